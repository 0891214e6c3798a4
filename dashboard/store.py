"""The state one browser session shares between its views: which customer is on the line.

Views take a ``CustomerStore`` and depend on its parameters, as in Panel's intermediate tutorials, so
selecting a customer anywhere updates every view together, and each view also works alone (in a notebook,
give it a store of its own).
"""

from __future__ import annotations

import param


class CustomerStore(param.Parameterized):
    """Per-session selection state; process-wide services (directory, stream, models) live elsewhere."""

    customer_id = param.Integer(default=None, allow_None=True, doc="the selected customer's id")
    persona = param.Integer(default=None, allow_None=True, doc="persona filter chosen on the heatmap")

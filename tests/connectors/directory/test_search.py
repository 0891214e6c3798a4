"""The search module's own helpers (searches themselves are compared with a brute-force scan in
test_service.py)."""

from __future__ import annotations

import numpy as np

from connectors.directory.search import integers


def test_integers_reads_group_concat_strings_exactly():
    large = 2**62 + 7
    assert integers(f"3,1,{large},0").tolist() == [3, 1, large, 0]
    assert integers("42").tolist() == [42]
    for nothing in (None, ""):
        found = integers(nothing)
        assert found.dtype == np.int64 and len(found) == 0

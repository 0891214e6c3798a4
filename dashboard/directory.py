"""Customer directory: search-as-you-type, field and sort choices, a paged table, "N customers · X ms"."""

from __future__ import annotations

import pandas as pd
import panel as pn
import param
from bokeh.models import HTMLTemplateFormatter
from panel.viewable import Viewer

from dashboard.markup import SCREEN_CSS, HTMLText, keeps_going, mask_email
from dashboard.store import CustomerStore
from models.insights import Insights

FIELDS = {"Any field": "any", "Name": "name", "Phone": "phone", "Email": "email"}
SORTS = {
    "Name": "name",
    "Phone": "phone",
    "Email": "email",
    "First visit": "first_visit",
    "Tenure": "tenure",
    "Churn risk": "churn_risk",
}
# What the table shows: at a support desk's 1366 px the four columns fit without scrolling sideways. The
# phone number is shown in full (representatives match it against caller ID); the email only masked, on
# a second line under the name (the full address never reaches the browser).
COLUMNS = {"name": "Name", "phone": "Phone", "tenure_years": "Tenure", "status": "Status"}
HIDDEN = ["id", "email", "products", "state", "churn_risk", "persona", "persona_name"]
FORMATTERS = {  # templates escape every value (<%- %>)
    "name": HTMLTemplateFormatter(
        template="<div class='c360-wrap'><%- value %></div><div class='c360-email'><%- email %></div>"
    ),
    "tenure_years": HTMLTemplateFormatter(
        template="<% if (value != null) { %><%- value.toFixed(1) %>y<% } %>"
    ),
    "status": HTMLTemplateFormatter(template="<div class='c360-wrap'><%- value %></div>"),
}


def for_display(rows: pd.DataFrame, models: Insights | None) -> pd.DataFrame:
    """A page of rows as the browser receives them: the email masked, and a status ("active", "left
    YYYY-MM-DD" or "not scored yet"; none without models)."""
    shown = rows.assign(email=[mask_email(e if isinstance(e, str) else None) for e in rows["email"]])
    return shown if models is None else shown.assign(status=models.standing(rows["id"]))


class DirectoryView(Viewer):
    """Find the caller: every keystroke runs one parameterised query through connectors/."""

    store = param.ClassSelector(class_=CustomerStore)
    page = param.Integer(default=1, bounds=(1, None))
    page_size = param.Integer(default=15, bounds=(5, 200))

    def __init__(self, **params):
        super().__init__(**params)
        self.search = pn.widgets.TextInput(
            placeholder="Search name, phone or email…",
            css_classes=["c360-search"],
            sizing_mode="stretch_width",
        )
        self.field = pn.widgets.Select(options=FIELDS, value="any", width=110)
        sorts = dict(SORTS)
        if not self.store.services.has_scores:
            sorts.pop("Churn risk")
        self.sort = pn.widgets.Select(options=sorts, value="name", width=120)
        self.descending = pn.widgets.Toggle(label="↓ descending", width=110)
        self.table = pn.widgets.Tabulator(
            show_index=False,
            disabled=True,
            selectable=1,
            sizing_mode="stretch_width",
            height=420,
            layout="fit_columns",
            container_popup=False,  # no editors, so no filler column (it took 10 px and forced a scrollbar)
            titles=COLUMNS,
            hidden_columns=HIDDEN,
            formatters=FORMATTERS,
            widths={"name": "33%", "phone": "27%", "tenure_years": "14%"},  # status takes the rest,
            text_align={"tenure_years": "right"},
            configuration={"columnDefaults": {"headerSort": False, "resizable": False}},
            stylesheets=[SCREEN_CSS],
        )
        self.status = HTMLText(css_classes=["c360-status"])
        self.previous = pn.widgets.Button(label="‹ Previous", width=90)
        self.next = pn.widgets.Button(label="Next ›", width=90)
        self.filter_note = HTMLText()
        self.clear_filter = pn.widgets.Button(label="Show all personas", width=150, visible=False)
        self.previous.on_click(lambda _: self._turn(-1))
        self.next.on_click(lambda _: self._turn(1))
        self.clear_filter.on_click(lambda _: setattr(self.store, "persona", None))
        self.table.on_click(self._clicked)
        for widget in (self.search, self.field, self.sort, self.descending):
            widget.param.watch(self._restart, "value_input" if widget is self.search else "value")
        self.store.param.watch(self._restart, "persona")
        self._result = None
        self._run()

    def _restart(self, *_):
        self.page = 1
        self._run()

    def _turn(self, step: int) -> None:
        self.page = max(1, self.page + step)
        self._run()

    @keeps_going
    def _run(self) -> None:
        directory = self.store.services.directory
        try:
            result = directory.search(
                self.search.value_input or "",
                field=self.field.value,
                sort=self.sort.value,
                descending=self.descending.value,
                page=self.page,
                page_size=self.page_size,
                persona=self.store.persona,
            )
        except ValueError as error:
            self.status.object = f"<span class='c360-error'>{error}</span>"
            return
        self._result = result
        self.table.value = for_display(result.rows, self.store.services.models)
        self.table.selection = []
        pages = max(1, -(-result.total // self.page_size))
        self.previous.disabled = self.page <= 1
        self.next.disabled = self.page >= pages and result.exact
        self.status.object = (
            f"<b>{result.total_label}</b> customer{'' if result.total == 1 and result.exact else 's'}"
            f" · {result.elapsed_ms:.0f} ms · page {self.page}"
            + ("" if not result.exact else f" of {pages:,}")
        )
        persona_names = self.store.services.persona_names
        if self.store.persona is not None:
            name = persona_names.get(self.store.persona, f"persona {self.store.persona}")
            self.filter_note.object = f"Filtered to persona <b>{name}</b>"
        else:
            self.filter_note.object = ""
        self.clear_filter.visible = self.store.persona is not None
        self.store.record_query(result.sql, result.elapsed_ms)

    @keeps_going
    def _clicked(self, event) -> None:
        """A click anywhere on a row selects that customer."""
        rows = self._result.rows if self._result is not None else None
        if rows is not None and event.row is not None and 0 <= event.row < len(rows):
            self.store.select(int(rows.iloc[event.row]["id"]))

    def __panel__(self):
        return pn.Column(
            "### Customer directory",
            pn.Row(self.search, self.field),
            pn.Row(self.sort, self.descending),
            pn.Row(self.filter_note, self.clear_filter),
            self.table,
            pn.Row(self.previous, self.next, self.status),
            css_classes=["c360-directory"],
            sizing_mode="stretch_width",
        )

"""Export a customer's audit entries: who opened their record, when, and whether private details showed.

    python -m connectors.desk.export --customer 1 --since 2026-11-01 [--until 2026-11-30] [--format json]

Reads the store the settings name (``C360_MYSQL_URL``, else the data folder's SQLite file). Dates are UTC
days and both ends are included; a time (``2026-11-01T09:30``) may be given instead. CSV (the default) or
JSON goes to standard output, or to ``--output FILE``; the command exits with 1 and one line when the store
cannot answer.
"""

from __future__ import annotations

import argparse
import sys
from datetime import date, datetime, timedelta

import orjson

from connectors import config
from connectors.desk import DeskUnavailable, open_store, utc_now

FORMATS = ("csv", "json")


def _moment(text: str, end: bool) -> datetime:
    """A day (its start, or the next day's start for ``end``) or a time, UTC."""
    try:
        day = date.fromisoformat(text)
    except ValueError:
        try:
            return datetime.fromisoformat(text).replace(tzinfo=None)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected a date (2026-11-01) or a time, got {text!r}"
            ) from None
    start = datetime.combine(day, datetime.min.time())
    return start + timedelta(days=1) if end else start


def render(entries, form: str) -> str:
    """The entries (``DeskStore.audit``'s frame) as CSV or JSON, times in ISO 8601 UTC."""
    frame = entries.assign(opened_at=entries["opened_at"].map(lambda t: t.isoformat() + "Z"))
    if form == "json":
        return orjson.dumps(frame.to_dict(orient="records"), option=orjson.OPT_INDENT_2).decode() + "\n"
    return frame.to_csv(index=False)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m connectors.desk.export", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--customer", type=int, required=True, help="the customer's id")
    parser.add_argument(
        "--since", type=lambda t: _moment(t, False), required=True, help="first day (UTC), or a time"
    )
    parser.add_argument(
        "--until",
        type=lambda t: _moment(t, True),
        default=None,
        help="last day (UTC) or a time; default: now",
    )
    parser.add_argument("--format", choices=FORMATS, default="csv")
    parser.add_argument("--output", default=None, help="file to write; default: standard output")
    config.add_arguments(parser, only=("data_dir", "mysql_url"))
    args = parser.parse_args(argv)
    settings = config.load_or_exit(parser, args)
    store = open_store(settings)
    try:
        entries = store.audit(args.customer, args.since, args.until or utc_now())
    except DeskUnavailable as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    finally:
        store.close()
    text = render(entries, args.format)
    if args.output:
        with open(args.output, "w", encoding="utf-8", newline="") as out:
            out.write(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

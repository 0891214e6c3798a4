"""The directory's derived data, built once per data version into a lasting folder every process opens read-only.

    python -m connectors.directory.build [--data-dir D] [--index-dir I] [--if-stale] [--quiet]

The index folder (``C360_INDEX_DIR``, by default ``<data dir>/index``) holds::

    CURRENT                  the name of the build in use
    .lock                    held (flock) by the one process building or updating; the others wait or serve
    <family>-<sources>/      one build, named by a fingerprint of the code and the sources' shape (family)
                             and of the sources' signatures (sizes and times; MySQL's table times)
        build.json           what it was built from and when, counts, skipped lines
        directory.duckdb     the profile documents, survey answers, holdings summary and the joined directory
        search.sqlite        the directory in name order and its sort indexes
        search-text.sqlite   the trigram full-text index of name, email and phone
        scores-<model>.sqlite  churn risk and persona per directory row, written once per model version
        DELTA, delta-<n>.*   changes since the build (connectors.directory.delta)

A build is written into a staging folder beside the others and moved into place; ``CURRENT`` then moves to
it in one rename, so a reader never opens half a build and a builder killed mid-build leaves the previous
build serving (its staging folder is removed by the next builder). Builds are immutable: servers open them
with SQLite's ``immutable=1`` and DuckDB's ``READ_ONLY``, so N processes share one copy of the pages.
"""

from __future__ import annotations

import argparse
import sys

from connectors import config
from connectors.directory import builder, delta
from connectors.directory.artifact import Lock, current, sources, usable
from connectors.directory.banking import BankingUnavailable, CoreBanking
from connectors.layout import SourceMissing


def main(argv: list[str] | None = None) -> int:
    """Command line: build the directory (with --if-stale, only when the sources or the code changed)."""
    from tqdm import tqdm  # the command's progress bar; the server logs its progress instead

    parser = argparse.ArgumentParser(
        prog="python -m connectors.directory.build", description=__doc__.split("\n")[0]
    )
    config.add_arguments(parser, only=["data_dir", "index_dir", "mysql_url"])
    parser.add_argument(
        "--if-stale", action="store_true", help="do nothing when the build matches the sources"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    settings = config.load_or_exit(parser, args)
    target = settings.mysql
    banking = CoreBanking(target) if target is not None else None
    bar = tqdm(desc="Building the directory", unit=" rows", unit_scale=True, disable=args.quiet)

    def progress(step: str, rows: int) -> None:
        bar.set_description(f"Building the directory: {step}")
        bar.update(rows)

    try:
        with Lock(settings.index_folder).held():
            found = current(settings.index_folder)
            if args.if_stale and usable(found, settings):
                if delta.applied_sources(found) == sources(settings, banking):
                    bar.close()
                    print(f"The directory in {found.folder} matches the sources; not rebuilt.")
                    return 0
                if delta.update(settings, banking, found, progress):
                    bar.close()
                    print(f"Brought the directory in {found.folder} up to date with the changed sources.")
                    return 0
            made = builder.build(settings, banking, progress)
    except (config.ConfigError, SourceMissing, BankingUnavailable) as error:
        bar.close()
        parser.exit(2, f"error: {error}\n")
    finally:
        if banking is not None:
            banking.close()
    bar.close()
    print(
        f"Built the directory of {made.customers:,} customers in {made.meta['build_seconds']} s: {made.folder}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

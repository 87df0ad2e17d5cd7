"""``mafrg`` command line: one sub-command per workflow step, each usable on its own.

One module per stage, each keeping its parsers beside its handlers; the handlers are thin and call the
library, where the workflow's code hashes see the logic. Rules pass config sections as JSON, so the same
typed dataclass defaults apply whether a step runs under Snakemake or by hand.
"""

from __future__ import annotations

import argparse
import logging
import sys

from mafrg.cli import data, evaluate, extractors, features, methods, report, submit

log = logging.getLogger("mafrg")
MODULES = (data, features, extractors, methods, evaluate, report, submit)


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="mafrg", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-v", "--verbose", action="store_true")
    p.add_argument("--plugin", action="append", default=[], metavar="MODULE",
                   help="import a method plugin module first (repeatable; also $MAFRG_PLUGINS, comma-separated, which the workflow sets from config 'plugins')")
    sub = p.add_subparsers(dest="command", required=True)
    for mod in MODULES:
        mod.add_parsers(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _setup_logging(args.verbose)
    from mafrg.allocator import retain_freed_memory

    retain_freed_memory()  # every step that runs torch gains (extraction, generation); see mafrg.allocator
    try:
        if args.plugin:
            from mafrg import methods as registry

            registry.load_plugins(args.plugin)
        args.func(args)
    except SystemExit:
        raise
    except (ValueError, OSError) as exc:
        # Expected problems with inputs, settings or the file system (DataError, ValidationError, ConfigError,
        # CheckpointError, no space left, ...): the message names the file/key and the problem.
        log.debug("traceback", exc_info=True)
        from mafrg.cli.common import describe_error

        print(f"error: {describe_error(exc)}", file=sys.stderr)
        return 2
    except Exception:  # noqa: BLE001 - a bug: keep the traceback
        log.exception("mafrg %s failed", args.command)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

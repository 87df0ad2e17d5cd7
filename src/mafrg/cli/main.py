"""The ``mafrg`` program: its parser (every sub-command's, from the modules of :mod:`mafrg.cli`) and ``main``.

Rules pass config sections as JSON, so the same typed dataclass defaults apply whether a step runs under
Snakemake or by hand.
"""

from __future__ import annotations

import argparse
import logging
import sys

import mafrg
from mafrg.cli import data, evaluate, extractors, features, methods, report, submit

log = logging.getLogger("mafrg")
MODULES = (data, features, extractors, methods, evaluate, report, submit)
DESCRIPTION = """\
mafrg: Multiple Appropriate Facial Reaction Generation (REACT challenges), one step at a time.

The Snakemake workflow runs these commands for you (`make run`, or `snakemake --profile profiles/local`);
each also works on its own. Typical uses by hand:

  mafrg synth --out demo/                        write the embedded demo dataset
  mafrg validate --root DATA --splits val test   check a dataset before any work
  mafrg methods                                  list methods, variants and presets
  mafrg evaluate --pred P.npy --data val.npz --neighbours N.npy --out metrics.json
  mafrg check-submission results/submission/ReactDiff

`mafrg COMMAND --help` describes a command. Documentation: docs/usage.md in the repository."""


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="mafrg", description=DESCRIPTION,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version", version=f"mafrg {mafrg.__version__}")
    p.add_argument("-v", "--verbose", action="store_true", help="log debug messages (and tracebacks of errors)")
    p.add_argument("--plugin", action="append", default=[], metavar="MODULE",
                   help="import a method plugin module first (repeatable; also $MAFRG_PLUGINS, comma-separated, which the workflow sets from config 'plugins')")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for mod in MODULES:
        mod.add_parsers(sub)
    _describe(sub)
    return p


def _describe(sub: argparse._SubParsersAction) -> None:  # noqa: SLF001 - argparse's own type
    """``mafrg COMMAND --help`` opens with the one-line help the command list shows."""
    helps = {a.dest: a.help for a in sub._choices_actions}  # noqa: SLF001
    for name, parser in sub.choices.items():
        parser.description = parser.description or helps.get(name)
        for action in parser._actions:  # noqa: SLF001 - nested sub-commands (mafrg extractors check)
            if isinstance(action, argparse._SubParsersAction):  # noqa: SLF001
                _describe(action)


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

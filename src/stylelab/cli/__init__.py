"""Command line: thin subcommands over the Python API; stylize flags come from StylizeConfig.

Every user error is one line on stderr (``stylelab: error: ...``) and exit status 2.

One module per command family, each with ``add_commands(sub)`` that registers its subparsers
(``sub.add_parser(...)``, ``set_defaults(handler=cmd_...)``) and imports heavy modules only
inside its ``cmd_*`` functions, so that ``stylelab --help`` stays fast:

- :mod:`.common`: OneLineParser, exit codes, ``csv_of``, ``add_config_arguments``,
  ``config_from_args``, ``report_result``
- :mod:`.stylize`: stylize, layers, demo, evaluate (and examples)
- :mod:`.study`: compare, stats
- :mod:`.fast`: train, apply (fast style transfer)
- :mod:`stylelab.experiments.commands`: sweep, report

A new family is one more ``add_commands(sub)`` call in :func:`build_parser`, at the place its
commands should appear in ``--help``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from stylelab.cli import fast, study, stylize
from stylelab.cli.common import EXIT_INTERRUPTED, EXIT_USAGE, OneLineParser, config_from_args
from stylelab.errors import StylelabError
from stylelab.experiments import commands as experiments

__all__ = ["build_parser", "config_from_args", "main"]


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="stylelab",
        description="Neural style transfer: Gatys optimization on VGG and friends.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=OneLineParser)
    sub.required = True
    stylize.add_commands(sub)
    study.add_commands(sub)
    fast.add_commands(sub)
    stylize.add_examples_command(sub)
    experiments.add_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        return int(args.handler(args))
    except StylelabError as exc:
        print(f"stylelab: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("stylelab: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except OSError as exc:  # e.g. the output folder vanished or filled up mid-run
        print(
            f"stylelab: error: {exc.strerror or exc}: {exc.filename or ''}".rstrip(": "),
            file=sys.stderr,
        )
        return EXIT_USAGE

"""Command line: thin subcommands over the Python API; stylize flags come from StylizeConfig.

Every user error is one line on stderr (``stylelab: error: ...``) and exit status 2.

One module per command family, each with ``add_commands(sub)`` that registers its subparsers
(``sub.add_parser(...)``, ``set_defaults(handler=cmd_...)``) and imports heavy modules only
inside its ``cmd_*`` functions, so that ``stylelab --help`` stays fast:

- :mod:`.common`: OneLineParser, exit codes, ``csv_of``, ``add_config_arguments``,
  ``config_from_args``, ``report_result``
- :mod:`.stylize`: stylize, layers, demo, evaluate (and examples)
- :mod:`.study`: compare, stats
- :mod:`.fast`: train (fast style transfer)
- :mod:`.apply`: apply and video (a trained model over photos or a clip)
- :mod:`.instant`: instant, train-instant (any painting in one pass)
- :mod:`.stereo`: stereo (both views of a 3D photo)
- :mod:`.deploy`: export (ONNX, TorchScript)
- :mod:`.serve`: serve (the web app)
- :mod:`.sweep`: sweep, report (the lab notebook, :mod:`stylelab.experiments`)

A new family is one more ``add_commands(sub)`` call in :func:`build_parser`, at the place its
commands should appear in ``--help``.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import traceback
import warnings
from collections.abc import Sequence
from typing import TextIO

from stylelab import __version__
from stylelab.allocator import configure_allocator
from stylelab.cli import apply, deploy, fast, instant, serve, stereo, study, stylize, sweep
from stylelab.cli.common import EXIT_BUG, EXIT_PIPE, EXIT_USAGE, OneLineParser, config_from_args
from stylelab.cli.streams import CLOSED, command_streams, stdout_closed
from stylelab.errors import StylelabError
from stylelab.safety import (
    describe_os_error,
    interrupted_exit_code,
    interruption,
    one_line,
    signals_as_interrupts,
)
from stylelab.threads import configure_torch_threads

DEBUG_ENV = "STYLELAB_DEBUG"

__all__ = ["build_parser", "config_from_args", "main"]


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="stylelab",
        description="Neural style transfer: Gatys optimization on VGG and friends.",
        epilog="Bad input is one line on stderr and exit status 2; no file is written over. "
        f"--debug (or {DEBUG_ENV}=1) shows the traceback behind an error.",
    )
    parser.add_argument(
        "--debug", action="store_true", help=f"show tracebacks (also {DEBUG_ENV}=1)"
    )
    parser.add_argument("--version", action="version", version=f"stylelab {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=OneLineParser)
    sub.required = True
    stylize.add_commands(sub)
    study.add_commands(sub)
    fast.add_commands(sub)
    apply.add_commands(sub)
    instant.add_commands(sub)
    stereo.add_commands(sub)
    deploy.add_commands(sub)
    serve.add_commands(sub)
    stylize.add_examples_command(sub)
    sweep.add_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; every failure ends here as one line on stderr and an exit status:
    2 for bad input, 130 / 143 / 129 for Ctrl-C / SIGTERM / SIGHUP, 70 for a bug. stdout
    and stderr are :mod:`stylelab.cli.streams`' while it runs."""
    if sys.stderr is None:  # closed (2>&-): progress bars write nowhere rather than crash
        sys.stderr = open(os.devnull, "w")  # noqa: SIM115 - for the whole process
    with command_streams():
        code = _main(list(sys.argv[1:] if argv is None else argv))
        return _results_flushed(code)


def debug_first(arguments: list[str]) -> list[str]:
    """``--debug`` anywhere before a ``--`` moved in front of the command, where the
    parser takes it (``stylelab stylize ... --debug`` as well as ``stylelab --debug ...``)."""
    end = arguments.index("--") if "--" in arguments else len(arguments)
    if "--debug" not in arguments[:end]:
        return arguments
    rest = [a for i, a in enumerate(arguments) if i >= end or a != "--debug"]
    return ["--debug", *rest]


def _results_flushed(code: int) -> int:
    """``code``, once what is left of the results in stdout's buffer is written (else
    Python's exit would flush it, fail and exit 120 with its own lines)."""
    if stdout_closed():  # nothing was written to it: a write is refused at once
        return code
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        return _pipe_closed()
    except StylelabError as exc:  # full, or closed
        _discard_stdout()
        return _fail(str(exc))
    return code


def _main(arguments: list[str]) -> int:
    arguments = debug_first(arguments)
    debug_env = os.environ.get(DEBUG_ENV, "").strip().lower()
    debug = "--debug" in arguments[:1] or debug_env not in ("", "0", "false", "no", "off")
    os.environ["MPLBACKEND"] = "Agg"  # headless figures; an invalid user value cannot break us
    # matplotlib's notes on an unwritable $HOME (it uses a temporary config folder then)
    # would be lines beside a command's one line; its errors still show
    logging.getLogger("matplotlib").setLevel(logging.ERROR)
    configure_torch_threads()  # before torch starts: threads from the usable cores
    try:
        with warnings.catch_warnings(), signals_as_interrupts():
            if not debug:
                warnings.showwarning = _one_line_warning
            # stylelab's own warnings are lines for the user, shown whatever the filters
            # (PYTHONWARNINGS=error would make an animated GIF an internal error)
            warnings.filterwarnings("default", category=UserWarning, module=r"stylelab(\.|$)")
            args = build_parser().parse_args(arguments)
            if getattr(args, "json", False) and stdout_closed():  # before the work, not after
                raise StylelabError(f"--json: {CLOSED}")
            steps = getattr(args, "gradient_steps", False)  # True, or a rule on the args
            if steps is True or (callable(steps) and steps(args)):
                configure_allocator()  # steps in this process: their memory kept (glibc)
            return int(args.handler(args))
    except StylelabError as exc:
        _print_traceback(debug)
        return _fail(str(exc))
    except KeyboardInterrupt:
        _print_traceback(debug)
        print(f"stylelab: interrupted ({interruption()})", file=sys.stderr)
        return interrupted_exit_code()
    except BrokenPipeError:  # stdout's reader left (``stylelab layers | head``): no output wanted
        _print_traceback(debug)
        return _pipe_closed()
    except OSError as exc:  # e.g. the output folder vanished or filled up mid-run
        _print_traceback(debug)
        return _fail(describe_os_error(exc))
    except MemoryError:
        _print_traceback(debug)
        return _fail("out of memory: try a smaller --size")
    except Exception as exc:  # noqa: BLE001 - the last net: a bug, still one line
        if _out_of_memory(exc):  # an allocation the estimates let through
            _print_traceback(debug)
            return _fail("out of memory: try a smaller --size (or --batch-size)")
        if debug:
            raise
        reason = str(exc).splitlines()[0] if str(exc) else ""
        print(
            one_line(
                f"stylelab: internal error: {type(exc).__name__}: {reason} (a bug: please "
                f"report it with the output of the same command with --debug)"
            ),
            file=sys.stderr,
        )
        return EXIT_BUG


def _out_of_memory(exc: BaseException) -> bool:
    text = str(exc)
    return isinstance(exc, RuntimeError) and (
        "can't allocate memory" in text or "out of memory" in text.lower()
    )


def _pipe_closed() -> int:
    """Exit as a process killed by SIGPIPE would (128 + 13), silently, as ``cat`` and ``ls``
    do."""
    _discard_stdout()
    return EXIT_PIPE


def _discard_stdout() -> None:
    """stdout goes to /dev/null, so that flushing it at exit cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, StylelabError):  # no real stdout file: nothing to flush
        pass


def _fail(message: str) -> int:
    print(f"stylelab: error: {one_line(message)}", file=sys.stderr)
    return EXIT_USAGE


def _print_traceback(debug: bool) -> None:
    if debug:
        traceback.print_exc()


def _one_line_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: TextIO | None = None,
    line: str | None = None,
) -> None:
    """A library's warning as one line (its first), without the source line."""
    text = str(message).strip().splitlines()
    print(f"stylelab: warning: {one_line(text[0] if text else category.__name__)}", file=sys.stderr)

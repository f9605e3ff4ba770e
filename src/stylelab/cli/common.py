"""What every command family shares: the parser class, exit codes, config flags, the result line.

Nothing heavy here (no torch): this module is imported on every ``stylelab`` start.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

from stylelab.config import INITS, WEIGHT_KEYWORDS, StylizeConfig, field_names, field_specs
from stylelab.errors import StylelabError
from stylelab.safety import (
    IMAGE_FORMATS,
    check_output_file,
    check_outputs,
    interrupted_exit_code,
    interruption,
)

CAFFE_ENV = "STYLELAB_CAFFE_VGG19"

EXIT_USAGE = 2
EXIT_NONFINITE = 1
EXIT_PARTIAL = 1  # a folder run or a grid: some inputs failed, the others were written
EXIT_INTERRUPTED = 130  # Ctrl-C; SIGTERM / SIGHUP give 143 / 129 (safety.interrupted_exit_code)
EXIT_BUG = 70  # EX_SOFTWARE: an exception stylelab did not expect
EXIT_PIPE = 141  # stdout's reader left: as a process killed by SIGPIPE (128 + 13)


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is a single line and exit status 2."""

    def error(self, message: str) -> NoReturn:
        raise StylelabError(f"{self.prog}: {message}")


def csv_of(kind: Callable[[str], Any]) -> Callable[[str], tuple[Any, ...]]:
    """An argparse ``type=`` for ``A,B,...``: a tuple of ``kind(part)``, blanks dropped."""

    def parse(text: str) -> tuple[Any, ...]:
        parts = [p.strip() for p in text.split(",") if p.strip()]
        try:
            return tuple(kind(p) for p in parts)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a comma-separated list: {text!r}") from None

    parse.__name__ = f"comma-separated {kind.__name__}"
    return parse


def defaults_of(settings: type) -> dict[str, Any]:
    """``{field: default}`` of a settings dataclass: the defaults a command shows and uses,
    read from the one place they are written."""
    return {
        f.name: f.default
        for f in dataclasses.fields(settings)
        if f.default is not dataclasses.MISSING
    }


def add_config_arguments(
    parser: argparse.ArgumentParser,
    skip: Sequence[str] = (),
    defaults: dict[str, Any] | None = None,
    helps: dict[str, str] | None = None,
) -> None:
    """One ``--flag`` per StylizeConfig field, from its :class:`~stylelab.config.FieldSpec`
    (kind, help); ``defaults`` overrides the defaults shown and ``helps`` the help of a
    field that means something more precise for this command. The values are checked by
    StylizeConfig, so every layer says the same."""
    shown = defaults or {}
    for spec in field_specs():
        if spec.name in skip:
            continue
        default = shown.get(spec.name, spec.default)
        told = (helps or {}).get(spec.name, spec.help)
        help_text = f"{told} (default: {default if default != '' else 'none'})"
        if "(default" in told and spec.name not in shown:  # the help says it already
            help_text = told
        if spec.kind is bool:
            parser.add_argument(
                spec.flag, action=argparse.BooleanOptionalAction, default=None, help=help_text
            )
        elif spec.many:
            parser.add_argument(
                spec.flag, type=csv_of(spec.kind), default=None, metavar="A,B,...", help=help_text
            )
        else:
            metavar = spec.name.split("_")[-1].upper()
            parser.add_argument(
                spec.flag, type=spec.kind, default=None, metavar=metavar, help=help_text
            )


def config_from_args(args: argparse.Namespace, base: StylizeConfig | None = None) -> StylizeConfig:
    changes = {
        name: getattr(args, name) for name in field_names() if getattr(args, name, None) is not None
    }
    return (base or StylizeConfig()).replace(**changes)


def report_result(result: Any, output: Path, quiet: bool) -> int:
    """The closing line of a stylization on stderr, and the exit status it stands for."""
    info = result.info
    if result.status == "nonfinite":
        print(f"stylelab: warning: {info['message']}; wrote {output}", file=sys.stderr)
        return EXIT_NONFINITE
    if result.status == "interrupted":
        print(f"stylelab: {interruption()}: {info['message']}; wrote {output}", file=sys.stderr)
        return interrupted_exit_code()
    if not quiet:
        final = info["final_losses"]
        print(
            f"wrote {output} ({info['iterations']} iterations, {info['wall_time_s']:.1f} s, "
            f"total loss {final.get('total', float('nan')):.4g})",
            file=sys.stderr,
        )
    return 0


def config_inputs(config: StylizeConfig) -> list[str]:
    """The files a config reads besides the images: an ``--init`` image, a ``--weights``
    file, a ``--mask`` and the Caffe VGG19 file named by the environment."""
    import os

    files = [config.init] if config.init not in INITS else []
    if config.weights not in WEIGHT_KEYWORDS:
        files.append(config.weights)
    if config.mask:
        files.append(config.mask)
    if os.environ.get(CAFFE_ENV):
        files.append(os.environ[CAFFE_ENV])
    return files


def check_image_with_records(
    output: str, inputs: Sequence[object], extra: Sequence[Path] = ()
) -> Path:
    """Check, before any work, an output image and its ``.csv``/``.json`` records (and
    ``extra`` files): writable, not folders, and none of them one of ``inputs``."""
    out = check_output_file(output, IMAGE_FORMATS)
    companions = [out.with_suffix(".csv"), out.with_suffix(".json"), *extra]
    for path in companions:
        check_output_file(path)
    check_outputs([out, *companions], inputs)
    return out

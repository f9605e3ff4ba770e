"""The one exception type users see: a clear message, no traceback."""

from __future__ import annotations

import difflib
import functools
import inspect
from collections.abc import Callable, Sequence
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")


class StylelabError(Exception):
    """Bad input or a missing resource, worded for the person at the keyboard.

    The CLI prints ``stylelab: error: <message>`` and exits with status 2.
    """


def checked_call(func: Callable[P, R]) -> Callable[P, R]:
    """``func`` whose calls with arguments its signature cannot take (a misspelt keyword,
    one positional argument too many, a required one missing) raise a one-line
    :class:`StylelabError`, with the closest keyword (difflib) for a misspelt one, instead
    of Python's TypeError. For the public API's functions."""
    signature = inspect.signature(func)
    names = keyword_names(func)
    # with **options, an unknown keyword is the options' check to name (stylize, instant)
    open_ended = any(p.kind is p.VAR_KEYWORD for p in signature.parameters.values())

    @functools.wraps(func)
    def call(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            signature.bind(*args, **kwargs)
        except TypeError as exc:
            where = f"{func.__name__}()"
            unknown = [name for name in kwargs if name not in names]
            if unknown and not open_ended:
                raise unknown_option(where, unknown[0], names) from None
            raise StylelabError(f"{where}: {exc}") from None
        return func(*args, **kwargs)

    return call


def closest(name: object, known: Sequence[str], n: int = 1) -> list[str]:
    """The did-you-mean rule, for every message that has one: at most ``n`` of ``known``
    nearest to ``name`` (difflib's ratio at least 0.6, case ignored), as ``known`` spells
    them, nearest first."""
    spelt = {str(option).lower(): str(option) for option in known}
    found = difflib.get_close_matches(str(name).lower(), list(spelt), n=n, cutoff=0.6)
    return [spelt[option] for option in found]


def unknown_option(where: str, name: object, known: Sequence[str]) -> StylelabError:
    """The one line for an option ``where`` does not take: the closest of ``known``
    (:func:`closest`) as a suggestion, else the list of them."""
    close = closest(name, known)
    hint = f"did you mean {close[0]!r}?" if close else f"options: {', '.join(known)}"
    return StylelabError(f"{where} got an unknown option {_shown(name)}; {hint}")


def _shown(name: object) -> str:
    from stylelab.limits import show  # limits imports this module

    return show(name)


def keyword_names(func: Callable[..., object]) -> list[str]:
    """The names ``func`` takes as keywords (not ``*args`` or ``**options``): the
    candidates of a did-you-mean for a misspelt one."""
    return [
        name
        for name, parameter in inspect.signature(func).parameters.items()
        if parameter.kind in (parameter.POSITIONAL_OR_KEYWORD, parameter.KEYWORD_ONLY)
    ]

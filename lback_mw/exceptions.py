"""Exceptions raised while configuring an app, and the wording they share."""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Callable, Iterable
from typing import Any


class ImproperlyConfigured(Exception):
    """The settings or a middleware entry are wrong; raised by :func:`create_app`.

    The message always names the culprit (the settings file, ``MIDDLEWARES[i]``,
    the parameter) and says what to change.
    """


class MiddlewareNotUsed(Exception):
    """Raise from a middleware's ``__init__`` to leave it out of the chain.

    The message, if any, is shown by ``lback-mw middleware`` next to the
    skipped entry.
    """


def dotted_name(obj: object) -> str:
    """``module.Qualname`` of a class or function (of its class, for an instance)."""
    name = getattr(obj, "__qualname__", None) or type(obj).__qualname__
    return f"{getattr(obj, '__module__', None) or type(obj).__module__}.{name}"


def count(number: int, singular: str, plural: str | None = None) -> str:
    """``"1 route"``, ``"2 routes"``: a number and its noun, agreeing."""
    return f"{number} {singular if number == 1 else plural or singular + 's'}"


def did_you_mean(name: str, candidates: Iterable[str], cutoff: float = 0.6) -> str:
    """Return ``" Did you mean 'x'?"`` for the closest candidate, or ``""``."""
    pool = list(candidates)
    # difflib scores swapped letters poorly ("tsets" is closer to "test" than to
    # "tests" for it), so a different case or a transposition is tried first.
    folded = name.casefold()
    letters = sorted(folded)
    matches = (
        [c for c in pool if c.casefold() == folded]
        or [c for c in pool if sorted(c.casefold()) == letters]
        or difflib.get_close_matches(name, pool, n=1, cutoff=cutoff)
    )
    return f" Did you mean {matches[0]!r}?" if matches else ""


def refuse_async(function: Callable[..., Any], where: str, name: str, kind: str = "hooks") -> None:
    """Refuse an ``async def`` hook or view when it is registered, not on every request.

    :param kind: what lback_mw calls synchronously, for the message (``"views"``).
    """
    if inspect.iscoroutinefunction(function) or inspect.isasyncgenfunction(function):
        raise ImproperlyConfigured(
            f"{where}: {name} is defined with 'async def'. lback_mw is a WSGI core and "
            f"calls {kind} synchronously; make it a plain 'def'."
        )

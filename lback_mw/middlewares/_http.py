"""HTTP details several built-ins share: header-name checks and fast header writes."""

from __future__ import annotations

import re
from collections.abc import Iterable

from werkzeug.datastructures import Headers
from werkzeug.http import parse_list_header

from ..exceptions import ImproperlyConfigured

#: RFC 9110's token: what a header name or a method may be made of. werkzeug
#: keeps its own pattern private and does not check names at all; a bad name
#: would fail only later, in the server, on every response.
HTTP_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")

#: RFC 6750's b64token: what the credentials of ``Authorization: Bearer`` may be.
BEARER_TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")


def require_token(
    value: str, owner: str, parameter: str, what: str = "header name", example: str = "X-Request-ID"
) -> str:
    """Return ``value`` if it is an HTTP token (a header name, a Server-Timing metric
    name), else raise ImproperlyConfigured naming ``owner`` and ``parameter``."""
    if not HTTP_TOKEN.fullmatch(value):
        raise ImproperlyConfigured(
            f"{owner}: parameter {parameter!r} is {value!r}, which is not a valid HTTP "
            f"{what}. Use letters, digits and - only (no spaces, colons or line breaks), "
            f"for example {example!r}."
        )
    return value


def header_names(headers: Headers) -> set[str]:
    """The lower-cased names present in ``headers``.

    PERF: one pass over werkzeug's own list (its iterator is a generator that
    costs twice as much); ``name in headers`` raises and catches an exception on
    every miss, the common case for the headers middleware add.
    """
    return {name.lower() for name, _ in headers._list}


def append_trusted(headers: Headers, pairs: Iterable[tuple[str, str]]) -> None:
    """Append ``(name, value)`` pairs whose names and values were checked already.

    PERF: straight into the list werkzeug's ``Headers`` wraps. ``Headers.add``
    runs a newline regex on every value, about 0.3 us a header; the values
    here are built from configuration checked at start-up, or from numbers and
    ids that cannot contain a line break.
    """
    headers._list.extend(pairs)


def add_vary(headers: Headers, name: str) -> None:
    """Merge ``name`` into the response's ``Vary``, keeping what is there.

    PERF: ``response.vary.add`` parses the header into a HeaderSet and writes it
    back through a callback, ~3 us; most responses have no ``Vary`` yet, and
    then this is one pass and an append.
    """
    lowered = name.lower()
    existing = [value for key, value in headers._list if key.lower() == "vary"]
    if not existing:
        headers._list.append(("Vary", name))  # a constant name: nothing to check
        return
    present = {item.lower() for value in existing for item in parse_list_header(value)}
    if lowered not in present and "*" not in present:
        headers["Vary"] = ", ".join([*existing, name])

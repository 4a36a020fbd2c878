"""HTTP details several built-ins share: header-name checks, fast header writes, and
the request's URL as the client sent it."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from http import HTTPStatus
from urllib.parse import quote, unquote_to_bytes

from werkzeug.datastructures import Headers

from ..exceptions import ImproperlyConfigured
from ..wrappers import Request, Response

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


def raw_path(request: Request) -> bytes:
    """The path (``SCRIPT_NAME`` + ``PATH_INFO``) as the bytes the client sent, decoded.

    Not ``request.root_path + request.path``: werkzeug decodes those as UTF-8 with
    replacement, so a path that is not UTF-8 (``/caf%E9``) would come back as
    another resource (``/caf%EF%BF%BD``). PEP 3333 makes both strings latin-1.
    """
    environ = request.environ
    return (environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")).encode("latin-1") or b"/"


# RFC 3986's pchar and "/" (quote never quotes the unreserved characters). In a
# decoded path "%" is a literal percent sign, so it is quoted; the query string
# and a raw target are still encoded as sent, so their "%XX" escapes are kept.
_PATH_SAFE = "/!$&'()*+,;=:@"
_RAW_SAFE = _PATH_SAFE + "%"
_QUERY_SAFE = _RAW_SAFE + "?"


def request_target(request: Request) -> str:
    """The request target (path and query string) exactly as the client sent it.

    The server's raw target (``RAW_URI``, or ``REQUEST_URI``: werkzeug and
    gunicorn set both) when its path decodes to ``SCRIPT_NAME`` + ``PATH_INFO``;
    else, when there is none or a proxy fix rewrote the path, that path quoted
    again from its latin-1 bytes. Either way ``/caf%E9`` stays ``/caf%E9`` and
    ``/a%3Fb`` stays ``/a%3Fb``. Stray characters a lax server let through are
    quoted, so the result is always a valid URI reference.

    PERF: 2.1 us with a raw target (the unquote that checks it), 1.7 us without
    (timeit, ``/notes/12?a=1``), as the re-quoting it replaces; the access log
    calls it once per request.
    """
    environ = request.environ
    path = raw_path(request)
    sent = environ.get("RAW_URI") or environ.get("REQUEST_URI") or ""
    sent_path = sent.partition("?")[0]
    if sent_path.startswith("/") and unquote_to_bytes(sent_path) == path:
        target = quote(sent_path, safe=_RAW_SAFE)
    else:
        target = quote(path, safe=_PATH_SAFE)
    query = request.query_string  # QUERY_STRING's latin-1 bytes
    return f"{target}?{quote(query, safe=_QUERY_SAFE)}" if query else target


def url_with(request: Request, scheme: str, host: str) -> str:
    """The request's URL with ``scheme`` and ``host`` (``host[:port]``) swapped in.

    Not werkzeug's ``request.url``: that quotes the decoded path with "%" left
    as it is (``/a%25b`` comes back as ``/a%b``, another resource) and decodes the
    result to an IRI. A redirect must name the very resource that was asked for.
    """
    return f"{scheme}://{host}{request_target(request)}"


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
    back through a callback, ~3 us. Vary lists field names, which are tokens
    (no quoting), so splitting on commas is exact; the name goes onto the first
    ``Vary`` line, as one more comma-separated item.
    """
    items = headers._list
    wanted = name.lower()
    first = None
    for index, (key, value) in enumerate(items):
        if key.lower() == "vary":
            if first is None:
                first = index
            lowered = value.lower()
            # PERF: the substring test spares the split when the name is not there.
            if (wanted in lowered or "*" in lowered) and any(
                part.strip() in (wanted, "*") for part in lowered.split(",")
            ):
                return  # already varies on it, or on everything
    if first is None:
        items.append(("Vary", name))  # a constant name: nothing to check
    else:
        key, value = items[first]
        items[first] = (key, f"{value}, {name}" if value.strip() else name)


def problem_response(status: int, detail: str, headers: Mapping[str, str]) -> Response:
    """An error the built-ins answer themselves, as RFC 9457 problem details.

    ``headers`` is required: each of these statuses has one a client acts on
    (``WWW-Authenticate`` for a 401, ``Retry-After`` for a 429 or a 503).
    """
    body = {
        "type": "about:blank",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
    }
    return Response(
        json.dumps(body), status=status, mimetype="application/problem+json", headers=headers
    )

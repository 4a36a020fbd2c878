"""Cross-Origin Resource Sharing: which other sites' pages may read our responses.

Follows the Fetch standard (https://fetch.spec.whatwg.org/#http-cors-protocol).
Everything that can be decided at start-up is: origins are validated and
normalised, header values joined, so a request without ``Origin`` costs a
dictionary lookup and a ``Vary`` merge, and a cross-origin one a set lookup and
a few header appends.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Sequence
from typing import ClassVar
from urllib.parse import urlsplit

from werkzeug.http import parse_list_header
from werkzeug.wrappers import Response as WerkzeugResponse

from ..exceptions import ImproperlyConfigured, MiddlewareNotUsed
from ..settings import Settings
from ..wrappers import Request, Response
from ._http import HTTP_TOKEN, add_vary, append_trusted, header_names
from .base import BaseMiddleware

#: Methods a browser sends cross-origin without asking first; always allowed.
SAFELISTED_METHODS = ("GET", "HEAD", "POST")
#: Header names a browser may send without asking when their values are simple;
#: always allowed (a browser still asks for ``Content-Type: application/json``).
SAFELISTED_HEADERS = frozenset({"accept", "accept-language", "content-language", "content-type"})

_ALLOW_ORIGIN = "Access-Control-Allow-Origin"
_PREFLIGHT_VARY = "Origin, Access-Control-Request-Method, Access-Control-Request-Headers"


class CORSMiddleware(BaseMiddleware):
    """Answer CORS preflights and add ``Access-Control-*`` headers for allowed origins.

    Requests without an ``Origin`` header get no CORS headers, only ``Vary: Origin``
    (or, with ``"*"``, the same ``*`` as everyone), for caches. The parameters are
    documented in docs/middlewares/cors.md.
    """

    ordering_role: ClassVar[str] = "cors"

    def __init__(
        self,
        *,
        allow_origins: Sequence[str] | str | None = None,
        allow_origin_regex: str | None = None,
        allow_methods: Sequence[str] | str = SAFELISTED_METHODS,
        allow_headers: Sequence[str] | str = (),
        allow_credentials: bool = False,
        expose_headers: Sequence[str] | str = (),
        max_age: int | None = 600,
        config: Settings | None = None,
    ) -> None:
        owner = type(self).__name__
        origins = _origins_from(allow_origins, config)
        self._allow_all = origins is not None and "*" in origins
        if origins is not None and self._allow_all:
            _check_star_alone(owner, origins, allow_origin_regex, allow_credentials)
            origins = []  # "*" alone, as just checked; nothing to look up
        self._origins = frozenset(_normalise_origin(owner, origin) for origin in origins or ())
        self._regex = _compile_regex(owner, allow_origin_regex)
        if allow_credentials:
            _check_no_open_door(owner, self._origins, self._regex)
        if not self._allow_all and not self._origins and self._regex is None:
            if origins is None:
                raise ImproperlyConfigured(
                    f"{owner}: no origin is allowed. Give the sites whose pages may call "
                    "this app: params {'allow_origins': ['https://app.example.com']}, or "
                    "allow_origin_regex, or the CORS_ALLOW_ORIGINS setting ('*' allows "
                    "every site, without credentials)."
                )
            raise MiddlewareNotUsed("allow_origins is empty, so CORS is off")

        methods = _tokens(owner, allow_methods, "allow_methods")
        self._all_methods = "*" in methods
        self._methods = frozenset({*SAFELISTED_METHODS, *(m.upper() for m in methods)})
        headers = _tokens(owner, allow_headers, "allow_headers")
        self._all_headers = "*" in headers
        self._headers = SAFELISTED_HEADERS | {h.lower() for h in headers}
        exposed = _tokens(owner, expose_headers, "expose_headers")
        if "*" in exposed and allow_credentials:
            raise ImproperlyConfigured(
                f"{owner}: expose_headers='*' does nothing with allow_credentials=True "
                "(browsers then read '*' as a header literally named '*'). List the "
                "response headers the other site's scripts may read, e.g. "
                "expose_headers=['X-Request-ID', 'Content-Range']."
            )
        if max_age is not None and max_age < 0:
            raise ImproperlyConfigured(
                f"{owner}: max_age must be a number of seconds >= 0, or None to send no "
                f"Access-Control-Max-Age (browsers then cache preflights for 5 s); got {max_age}."
            )

        credentials = (("Access-Control-Allow-Credentials", "true"),) if allow_credentials else ()
        # Header values joined once here, not per request.
        self._actual = (*credentials, *_joined("Access-Control-Expose-Headers", exposed))
        self._wildcard_actual = ((_ALLOW_ORIGIN, "*"), *self._actual)
        preflight = [*credentials, ("Vary", _PREFLIGHT_VARY)]
        if not self._all_methods:
            # The whole list, not just the method asked for: the browser caches it.
            preflight.append(("Access-Control-Allow-Methods", ", ".join(sorted(self._methods))))
        if max_age is not None:
            preflight.append(("Access-Control-Max-Age", str(max_age)))
        self._preflight = tuple(preflight)
        self._configured_headers = (
            () if self._all_headers else _joined("Access-Control-Allow-Headers", headers)
        )

    def is_allowed_origin(self, origin: str) -> bool:
        """Whether ``origin`` (an ``Origin`` header value) may read responses."""
        if self._allow_all or origin in self._origins:
            return True
        # "null" (sandboxed iframes, file: pages, redirects) only when listed.
        return self._regex is not None and origin != "null" and bool(self._regex.fullmatch(origin))

    def process_request(self, request: Request) -> WerkzeugResponse | None:
        if request.method != "OPTIONS":
            return None
        environ = request.environ
        origin = environ.get("HTTP_ORIGIN")
        method = environ.get("HTTP_ACCESS_CONTROL_REQUEST_METHOD")
        if origin is None or method is None:
            return None  # a plain OPTIONS: the view (or the router's Allow) answers it
        return self._answer_preflight(
            origin, method, environ.get("HTTP_ACCESS_CONTROL_REQUEST_HEADERS")
        )

    def process_response(self, request: Request, response: WerkzeugResponse) -> WerkzeugResponse:
        environ = request.environ
        origin = environ.get("HTTP_ORIGIN")
        if origin is None:
            # What a cache stores from this answer (the browser's own cache too)
            # may later serve a cross-origin fetch of the same URL; the Fetch
            # standard's "CORS protocol and HTTP caches": with "*", the same
            # headers on every answer; with listed origins, Vary: Origin.
            headers = response.headers
            if self._allow_all:
                if "access-control-allow-origin" not in header_names(headers):
                    append_trusted(headers, self._wildcard_actual)
            else:
                add_vary(headers, "Origin")
            return response
        if request.method == "OPTIONS" and "HTTP_ACCESS_CONTROL_REQUEST_METHOD" in environ:
            return response  # our own preflight answer, complete as it is
        headers = response.headers
        if "access-control-allow-origin" in header_names(headers):
            return response  # the view answered CORS itself; ours could contradict it
        if self._allow_all:
            # The same "*" whatever the origin: nothing to Vary on.
            append_trusted(headers, self._wildcard_actual)
            return response
        add_vary(headers, "Origin")
        if self.is_allowed_origin(origin):
            headers.add(_ALLOW_ORIGIN, origin)  # checked by werkzeug: it came from a client
            append_trusted(headers, self._actual)
        return response

    def _answer_preflight(
        self, origin: str, method: str, requested_headers: str | None
    ) -> WerkzeugResponse:
        if not self.is_allowed_origin(origin):
            return _refusal(f"origin {origin!r} is not allowed")
        if not self._all_methods and method not in self._methods:
            hint = ""
            if method.upper() in self._methods:
                hint = (
                    f"; methods are case-sensitive and browsers upper-case only DELETE, GET, "
                    f"HEAD, OPTIONS, POST and PUT, so write {method.upper()!r} in fetch()"
                )
            return _refusal(f"method {method!r} is not allowed{hint}")
        answer = [(_ALLOW_ORIGIN, "*" if self._allow_all else origin), *self._preflight]
        if self._all_methods:
            answer.append(("Access-Control-Allow-Methods", method))
        names = [name.lower() for name in parse_list_header(requested_headers or "") if name]
        if names:
            if not self._all_headers:
                refused = [name for name in names if name not in self._headers]
                if refused:
                    listed = ", ".join(repr(name) for name in refused)
                    verb = "is" if len(refused) == 1 else "are"
                    noun = "header" if len(refused) == 1 else "headers"
                    return _refusal(f"{noun} {listed} {verb} not allowed")
            # Echo what was asked: the browser checks its own list against ours.
            answer.append(("Access-Control-Allow-Headers", ", ".join(names)))
        else:
            answer.extend(self._configured_headers)
        return Response(status=200, headers=answer, mimetype="text/plain")


def _refusal(reason: str) -> WerkzeugResponse:
    return Response(
        f"CORS preflight refused: {reason}",
        status=400,
        headers=[("Vary", _PREFLIGHT_VARY)],
        mimetype="text/plain",
    )


def _joined(name: str, values: list[str]) -> tuple[tuple[str, str], ...]:
    return ((name, ", ".join(values)),) if values else ()


def _as_list(value: Sequence[str] | str) -> list[str]:
    """A list of stripped items; a string is a comma-separated list (from YAML or env)."""
    items: Iterable[str] = parse_list_header(value) if isinstance(value, str) else value
    return [item.strip() for item in items if item.strip()]


def _origins_from(
    allow_origins: Sequence[str] | str | None, config: Settings | None
) -> list[str] | None:
    """The configured origins: the parameter, else the setting; ``None`` if neither is set."""
    if allow_origins is not None:
        return _as_list(allow_origins)
    from_settings = None if config is None else config.CORS_ALLOW_ORIGINS
    if from_settings is None:
        return None
    return _as_list(from_settings)


def _check_star_alone(owner: str, origins: list[str], regex: str | None, credentials: bool) -> None:
    if credentials:
        raise ImproperlyConfigured(
            f"{owner}: allow_origins='*' cannot be combined with allow_credentials=True. "
            "Browsers refuse 'Access-Control-Allow-Origin: *' on requests that carry "
            "cookies, and echoing any origin instead would let every site on the web "
            "read your users' data with their cookies. List the origins that need "
            "credentials (allow_origins=['https://app.example.com']), or match them with "
            r"allow_origin_regex=r'https://[a-z0-9-]+\.example\.com'."
        )
    if len(origins) > 1 or regex is not None:
        other = "allow_origin_regex" if regex is not None else f"the other origins {origins}"
        raise ImproperlyConfigured(
            f"{owner}: allow_origins='*' already allows every origin, so {other} would "
            "never be consulted. Keep only '*', or remove '*' to allow just the others."
        )


#: Origins nobody can own (RFC 2606 reserves .invalid): a regex that matches them
#: matches any attacker's site too.
_FOREIGN_ORIGINS = ("https://attacker.invalid", "http://attacker.invalid")


def _check_no_open_door(owner: str, origins: frozenset[str], regex: re.Pattern[str] | None) -> None:
    """Refuse, with credentials, the other spellings of '*': the null origin and a
    catch-all regex, each of which lets any site read responses with cookies."""
    if "null" in origins:
        raise ImproperlyConfigured(
            f"{owner}: allow_origins lists 'null' together with allow_credentials=True. "
            "Any site can send 'Origin: null' (from a sandboxed iframe), so this would let "
            "every site on the web read your users' data with their cookies. Remove 'null', "
            "or set allow_credentials=False."
        )
    if regex is None:
        return
    for probe in _FOREIGN_ORIGINS:
        if regex.fullmatch(probe):
            raise ImproperlyConfigured(
                f"{owner}: allow_origin_regex {regex.pattern!r} matches {probe!r}, so with "
                "allow_credentials=True it would let any site read your users' data with "
                "their cookies. Match only your own sites, e.g. "
                r"r'https://[a-z0-9-]+\.example\.com'."
            )


def _normalise_origin(owner: str, origin: str) -> str:
    """Check an origin as a browser would send it and return it lower-cased.

    Browsers send ``scheme://host[:port]``, lower-case and without a default
    port, path or trailing slash, so anything else could never match.
    """
    if origin == "null":
        return origin
    where = f"{owner}: allow_origins entry {origin!r}"
    if "*" in origin:
        raise ImproperlyConfigured(
            f"{where}: wildcards do not work inside an origin. Use allow_origin_regex, "
            r"e.g. allow_origin_regex=r'https://[a-z0-9-]+\.example\.com'."
        )
    if "://" not in origin:
        raise ImproperlyConfigured(
            f"{where} has no scheme; an origin is scheme://host[:port]. "
            f"Did you mean 'https://{origin.rstrip('/')}'?"
        )
    try:
        parts = urlsplit(origin)
        port = parts.port
    except ValueError as exc:
        raise ImproperlyConfigured(f"{where} is not a valid origin: {exc}.") from exc
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ImproperlyConfigured(
            f"{where} is not an http(s) origin; write scheme://host[:port], e.g. "
            "'https://app.example.com'."
        )
    default_port = {"http": 80, "https": 443}[parts.scheme]
    host = parts.hostname
    if ":" in host:  # IPv6: browsers send the compressed form (WHATWG URL), only it matches
        host = f"[{ipaddress.IPv6Address(host).compressed}]"
    netloc = host if port in (None, default_port) else f"{host}:{port}"
    expected = f"{parts.scheme}://{netloc}"
    if origin.lower() != expected:
        if origin.endswith("/") and origin.rstrip("/").lower() == expected:
            problem = "ends with a slash; browsers never send one"
        elif parts.path or parts.query or parts.fragment:
            problem = "has a path; an origin is only scheme://host[:port]"
        elif port == default_port:
            problem = f"names the default port {port}, which browsers leave out"
        else:
            problem = "is not written the way browsers send origins"
        raise ImproperlyConfigured(f"{where} {problem}. Did you mean {expected!r}?")
    return expected


def _compile_regex(owner: str, pattern: str | None) -> re.Pattern[str] | None:
    if pattern is None:
        return None
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise ImproperlyConfigured(
            f"{owner}: allow_origin_regex {pattern!r} does not compile: {exc}. It must "
            r"match whole origins, e.g. r'https://[a-z0-9-]+\.example\.com'."
        ) from exc


def _tokens(owner: str, value: Sequence[str] | str, parameter: str) -> list[str]:
    items = _as_list(value)
    for item in items:
        if item != "*" and not HTTP_TOKEN.fullmatch(item):
            raise ImproperlyConfigured(
                f"{owner}: {parameter} entry {item!r} is not a valid name. Give each name "
                "as its own list item, e.g. ['X-Requested-With', 'Authorization'], or '*'."
            )
    return items

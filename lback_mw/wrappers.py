"""Request and response objects: werkzeug's, with the few additions views need."""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import functools
import json
import re
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from http import HTTPStatus
from typing import IO, TYPE_CHECKING, Any, Protocol, cast
from urllib.parse import urljoin

from werkzeug.datastructures import EnvironHeaders, Headers
from werkzeug.http import HTTP_STATUS_CODES, remove_entity_headers
from werkzeug.routing import Rule
from werkzeug.urls import iri_to_uri
from werkzeug.utils import cached_property, get_content_type
from werkzeug.wrappers import Request as _WerkzeugRequest
from werkzeug.wrappers import Response as _WerkzeugResponse
from werkzeug.wsgi import get_current_url

from ._input import ClientInput

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

    from .injection import Dependencies
    from .settings import Settings

HeadersLike = Headers | Mapping[str, str] | list[tuple[str, str]]

#: Where :meth:`Request.defer` keeps its loaders, in the request's ``__dict__``.
_DEFERRED = "_deferred_attributes"
#: A ``\\uD800``-``\\uDFFF`` escape: the only way a lone surrogate gets into JSON text
#: once the body decoded as strict UTF-8.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_SURROGATE = re.compile("[\ud800-\udfff]")


class _ClientJSON:
    """``json.loads`` for request bodies: every way a body can fail is a ``ValueError``.

    werkzeug's ``get_json`` turns a ``ValueError`` into ``None`` (``silent=True``)
    or a 400, but ``json`` also raises ``RecursionError`` (``[`` x 100000) and
    accepts lone surrogates (a ``\\ud800`` escape, or those bytes encoded, via
    ``surrogatepass``), which no UTF-8 encoder will write back: the database insert
    or the response would fail later, as a 500.
    """

    @staticmethod
    def loads(data: str | bytes) -> Any:
        if isinstance(data, bytes | bytearray):
            data = data.decode(json.detect_encoding(data))  # strict: no surrogatepass
        try:
            value = json.loads(data)
        except RecursionError:
            raise ValueError("the JSON is nested too deeply") from None
        # PERF: a regex scan in C; the tree is walked only if an escape is there.
        if _SURROGATE_ESCAPE.search(data) and _has_surrogate(value):
            raise ValueError("a string holds a lone surrogate, which is not a character")
        return value


def _has_surrogate(value: Any) -> bool:
    # A loop, not recursion: the value may be nested as deeply as json allows.
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if _SURROGATE.search(item):
                return True
        elif isinstance(item, dict):
            stack.extend(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


class URLBuilder(Protocol):
    """The part of the router a request uses: :meth:`Request.url_for`."""

    def url_for(
        self,
        endpoint: str,
        /,
        *,
        request: Request | None = None,
        _external: bool = False,
        **values: Any,
    ) -> str: ...


class ServingApp(Protocol):
    """What a request knows of the app serving it; :class:`~lback_mw.App` is one.

    A Protocol rather than ``App``, because ``app.py`` builds on this module: naming
    ``App`` here would make the two import each other.
    """

    @property
    def settings(self) -> Settings: ...
    @property
    def router(self) -> URLBuilder: ...
    @property
    def dependencies(self) -> Dependencies: ...


class Request(_WerkzeugRequest):
    """The request handed to middleware and views.

    Middleware may attach attributes (``request.user``, ``request.session``,
    ``request.start_time``); werkzeug's request has no ``__slots__``, so that
    costs nothing.
    """

    #: The :class:`~lback_mw.App` serving this request.
    app: ServingApp
    #: ``get_json()`` answers 400 (``None`` with ``silent=True``) for any body that
    #: is not JSON a UTF-8 encoder can write back.
    json_module = _ClientJSON  # type: ignore[assignment]  # werkzeug only calls .loads
    #: The routing rule the request matched (``rule.rule`` is the template, such
    #: as ``/users/<int:id>``); ``None`` until routing, and for 404s and 405s.
    url_rule: Rule | None = None
    #: The URL values of the match (``{"id": 42}``), as the view receives them;
    #: ``None`` when routing found no route.
    view_args: dict[str, Any] | None = None
    #: Why routing found no route (werkzeug's ``NotFound``, ``MethodNotAllowed`` or a
    #: redirect); raised where the view would have run, so middleware sees it first.
    routing_exception: Exception | None = None
    # Attributes middleware commonly set, declared for type checkers; they
    # exist only once a middleware has set them.
    #: When the request entered the timing middleware (``time.perf_counter()``).
    start_time: float
    #: Milliseconds from ``start_time`` to the response leaving the timing middleware.
    duration_ms: float
    #: The request's correlation id, set by the request-id middleware.
    id: str
    #: The W3C trace id (32 hex digits) of the request's span, set by TracingMiddleware.
    trace_id: str
    #: The ``traceparent`` header value naming the request's span, to pass on to
    #: calls the view makes; set by TracingMiddleware.
    traceparent: str
    #: The user, set by an authentication middleware.
    user: Any
    #: The session, set by a session middleware.
    session: Any
    #: The request's SQLAlchemy session, set by SQLAlchemySessionMiddleware.
    db: Any
    #: Call it for a fresh masked CSRF token; set by CSRFMiddleware.
    csrf_token: Any

    def __init__(
        self, environ: WSGIEnvironment, populate_request: bool = True, shallow: bool = False
    ) -> None:
        """werkzeug's, with the same attributes, three of them computed when first read.

        PERF: werkzeug's constructor costs ~1.2 us: it parses the server address,
        encodes the query string, builds the headers' view and runs the WSGI
        decoding of both paths whatever the request reads. Here an ASCII path skips
        the decoding (it cannot change it), and ``server``, ``query_string`` and
        ``headers`` wait for a reader: ~0.5 us for the whole constructor. werkzeug's
        private helpers for these are written again below rather than imported, so
        a werkzeug release that moves them cannot break ``import lback_mw``;
        tests/test_wrappers.py compares every attribute with werkzeug's on a table
        of environs, so one that changes what they do fails there.
        """
        get = environ.get
        self.environ = environ
        self.shallow = shallow
        self.method = get("REQUEST_METHOD", "GET").upper()
        self.scheme = get("wsgi.url_scheme", "http")
        self.remote_addr = get("REMOTE_ADDR")
        path = get("PATH_INFO") or ""
        if not path.isascii():
            path = _wsgi_decoded(path)
        self.path = "/" + path.lstrip("/")
        root_path = get("SCRIPT_NAME") or ""
        self.root_path = _wsgi_decoded(root_path).rstrip("/") if root_path else ""
        if populate_request and not shallow:
            environ["werkzeug.request"] = self

    def defer(self, name: str, load: Callable[[], Any]) -> None:
        """Make ``request.<name>`` the result of ``load()``, called on the first read.

        For a value that costs a store or database round-trip when many requests
        never read it (AuthenticationMiddleware's session user). Once read, the value
        is a plain attribute; an assignment before that (``login()`` setting
        ``request.user``) wins and ``load`` is never called. If ``load`` raises, the
        next read calls it again. ``name in vars(request)`` tells whether it was read.
        """
        deferred = self.__dict__.setdefault(_DEFERRED, {})
        deferred[name] = load

    if not TYPE_CHECKING:  # type checkers keep flagging misspelt attributes

        def __getattr__(self, name: str) -> Any:
            # PERF: Python calls this only when the attribute is not found, so every
            # other attribute costs what it did. A LocalProxy per request cost ~2.5 us
            # (its creation, then the lookup through it) against ~0.4 us here.
            deferred = self.__dict__.get(_DEFERRED)
            if deferred is not None and name in deferred:
                value = self.__dict__[name] = deferred[name]()
                del deferred[name]
                return value
            raise AttributeError(
                f"{type(self).__name__!r} object has no attribute {name!r}", name=name, obj=self
            )

    @cached_property
    def headers(self) -> EnvironHeaders:  # type: ignore[override]
        """The request's headers, a view of the environ (werkzeug's ``EnvironHeaders``).

        PERF: built on first read, not in the constructor: a request that reads
        none (a no-op stack, a health check) skips the object, ~0.15 us in a hot
        loop and ~2.4 us with cold CPU caches, which is how a server's worker runs.
        """
        return EnvironHeaders(self.environ)

    @cached_property
    def server(self) -> tuple[str, int | None] | None:
        """The server's ``(host, port)``, ``(path, None)`` on a unix socket, or ``None``."""
        name: str | None = self.environ.get("SERVER_NAME")
        if name is None:
            return None
        try:
            return name, int(self.environ.get("SERVER_PORT"))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return name, None  # a unix socket

    @cached_property
    def query_string(self) -> bytes:
        """The part of the URL after ``?``, as bytes."""
        query: str = self.environ.get("QUERY_STRING", "")
        return query.encode("latin1")

    @cached_property
    def stream(self) -> IO[bytes]:
        """werkzeug's guarded body stream, whose read errors are the client's (a 400).

        A chunked body the server failed to parse, or a client that went away,
        would otherwise escape from ``read()`` as the server's own exception: a 500.
        """
        return cast(IO[bytes], ClientInput(super().stream))

    @property
    def endpoint(self) -> str | None:
        """The endpoint name of the matched route, ``None`` before or without a match."""
        rule = self.url_rule
        return None if rule is None else rule.endpoint

    def url_for(self, endpoint: str, /, *, _external: bool = False, **values: Any) -> str:
        """Build a URL for ``endpoint`` that honours this request's host and script root."""
        return self.app.router.url_for(endpoint, request=self, _external=_external, **values)


def _wsgi_decoded(text: str) -> str:
    """A WSGI string (bytes as latin-1) as the UTF-8 text it holds, as werkzeug reads it."""
    return text.encode("latin1").decode(errors="replace")


#: werkzeug's own status line for every code it names, made by werkzeug once.
_STATUS_LINES: dict[int, str] = {
    code: _WerkzeugResponse()._clean_status(code)[0] for code in HTTP_STATUS_CODES
}

#: What finalising a response consists of; a class that overrides none of them
#: may take the lean path of :meth:`Response.__call__`.
_FINALISERS = ("get_wsgi_headers", "get_app_iter", "get_wsgi_response", "iter_encoded", "close")


class Response(_WerkzeugResponse):
    """The response class used throughout lback_mw; HTML by default, like werkzeug's.

    A ``str`` body is encoded with ``errors="replace"``: a lone surrogate (from a
    database, a file name) becomes ``?`` rather than a ``UnicodeEncodeError`` once
    the view has returned, so a body is always valid UTF-8.

    A ``str`` or ``bytes`` body with nothing else but a status code and a mimetype
    is built, and a body held in memory is sent, without werkzeug's general
    machinery; the result is the same object in the same state, which
    tests/test_wrappers.py checks against werkzeug on a table of cases.
    """

    default_mimetype = "text/html"

    #: Whether this class builds and sends as werkzeug's would (set per subclass).
    _lean = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._lean = all(
            getattr(cls, name) is getattr(Response, name) for name in (*_FINALISERS, "set_data")
        ) and (cls.default_status, cls.automatically_set_content_length) == (200, True)
        cls._lean = cls._lean and isinstance(cls.default_mimetype, str)

    def __init__(
        self,
        response: Iterable[bytes] | bytes | Iterable[str] | str | None = None,
        status: int | str | HTTPStatus | None = None,
        headers: HeadersLike | None = None,
        mimetype: str | None = None,
        content_type: str | None = None,
        direct_passthrough: bool = False,
        **kwargs: Any,
    ) -> None:
        # PERF: werkzeug's constructor costs ~3.4 us for Response("Hello"): a
        # Headers.set per header with its checks, the status parsed, the mimetype
        # looked up. For a str/bytes body and nothing but a known status code and
        # a mimetype, the same attributes are set directly (~0.8 us).
        kind = type(response)
        line = _STATUS_LINES.get(200 if status is None else status)  # type: ignore[arg-type]
        if (
            (kind is str or kind is bytes)
            and line is not None
            and headers is None
            and content_type is None
            and not direct_passthrough
            and not kwargs
            and self._lean
        ):
            body = (
                cast(str, response).encode(errors="replace")
                if kind is str
                else cast(bytes, response)
            )
            # Headers.__new__: its __init__ would only set the empty _list replaced here.
            self.headers = headers = Headers.__new__(Headers)
            headers._list = [
                (
                    "Content-Type",
                    _content_type(self.default_mimetype if mimetype is None else mimetype),
                ),
                ("Content-Length", str(len(body))),
            ]
            self._status = line
            self._status_code = 200 if status is None else int(status)
            self.direct_passthrough = False
            self._on_close = []
            self.response = [body]
            return
        super().__init__(
            response,
            status,
            headers,
            mimetype=mimetype,
            content_type=content_type,
            direct_passthrough=direct_passthrough,
            **kwargs,
        )

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        """werkzeug's, with a lean path for a body held in memory.

        PERF: werkzeug's path (get_wsgi_headers, get_app_iter, a ClosingIterator,
        a generator encoding each chunk) costs ~4.5 us. A list of bytes, with no
        Location header and a status that has a body, is sent as it is: the header
        list copied, one start_response (~0.9 us). Callbacks registered with
        ``call_on_close`` (the access log's) travel with it: the server calls the
        list's ``close()``, which is the response's (~0.3 us more).
        """
        body = self.response
        status = self._status_code
        if (
            type(body) is list
            and self._lean
            and not self.direct_passthrough
            and status >= 200
            and status != 204
            and status != 304
            and environ["REQUEST_METHOD"] != "HEAD"
        ):
            headers = self.headers._list
            has_length = False
            for key, _ in headers:
                lowered = key.lower()
                if lowered == "content-length":
                    has_length = True
                elif lowered == "location" or lowered == "content-location":
                    break
            else:
                # PERF: a one-chunk body (the usual) is checked without a generator.
                if (len(body) == 1 and type(body[0]) is bytes) or all(
                    type(chunk) is bytes for chunk in body
                ):
                    sent = headers.copy()
                    if not has_length:
                        sent.append(("Content-Length", str(sum(map(len, body)))))
                    start_response(self._status, sent)
                    return _ClosingBody(body, self.close) if self._on_close else body
        return super().__call__(environ, start_response)

    def set_data(self, value: bytes | str) -> None:
        # PERF: the error handler costs nothing until a character cannot be encoded.
        super().set_data(value.encode(errors="replace") if isinstance(value, str) else value)

    def iter_encoded(self) -> Iterator[bytes]:
        """werkzeug's, with ``str`` chunks encoded as :meth:`set_data` does."""
        # As werkzeug does, self.response is read now, not on the first chunk, so
        # a middleware may replace it with this very iterator.
        return _iter_encoded(self.response)

    def get_wsgi_headers(self, environ: WSGIEnvironment) -> Headers:
        """werkzeug's, less the re-check of every header value.

        PERF: werkzeug copies the headers through ``Headers.add``, which searches
        each value for line breaks again (~0.27 us a header; a response through
        the built-in stack carries a dozen). Every value was checked when it was
        set, or built from checked configuration, so the list is copied as it is.
        The fixes that follow are werkzeug's, in werkzeug's order;
        tests/test_wrappers.py compares the two on every case they handle.
        """
        headers = Headers()
        headers._list = self.headers._list.copy()
        location = content_location = content_length = None
        for key, value in headers._list:
            lowered = key.lower()
            if lowered == "location":
                location = value
            elif lowered == "content-location":
                content_location = value
            elif lowered == "content-length":
                content_length = value
        if location is not None:
            location = iri_to_uri(location)
            if self.autocorrect_location_header:
                current_url = iri_to_uri(get_current_url(environ, strip_querystring=True))
                location = urljoin(current_url, location)
            headers["Location"] = location
        if content_location is not None:
            headers["Content-Location"] = iri_to_uri(content_location)
        status = self.status_code
        if 100 <= status < 200 or status == 204:
            headers.remove("Content-Length")  # RFC 9110 8.6: never on 1xx and 204
        elif status == 304:
            remove_entity_headers(headers)
        if (
            self.automatically_set_content_length
            and self.is_sequence
            and content_length is None
            and status not in (204, 304)
            and not (100 <= status < 200)
        ):
            headers["Content-Length"] = str(sum(len(chunk) for chunk in self.iter_encoded()))
        return headers


class _ClosingBody(list[bytes]):
    """A body held in memory, sent with the ``close()`` the server must call."""

    __slots__ = ("close",)

    def __init__(self, chunks: list[bytes], close: Callable[[], None]) -> None:
        super().__init__(chunks)
        self.close = close


@functools.cache
def _content_type(mimetype: str) -> str:
    return get_content_type(mimetype, "utf-8")


def _iter_encoded(chunks: Iterable[str | bytes]) -> Iterator[bytes]:
    for chunk in chunks:
        yield chunk.encode(errors="replace") if isinstance(chunk, str) else chunk


def _json_default(value: Any) -> Any:
    # The types Flask's JSON provider also handles, so views can return them as-is.
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, uuid.UUID | decimal.Decimal):
        return str(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


# PERF: json.dumps with any option builds a JSONEncoder per call, ~2 us of a small
# answer's ~3 us; an encoder keeps no state between calls, so one serves every thread.
_JSON_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=_json_default)
_ASCII_JSON_ENCODER = json.JSONEncoder(separators=(",", ":"), default=_json_default)


class JSONResponse(Response):
    """A response whose body is ``data`` serialised as compact UTF-8 JSON."""

    default_mimetype = "application/json"

    def __init__(self, data: Any, status: int = 200, headers: HeadersLike | None = None) -> None:
        body = _JSON_ENCODER.encode(data)
        try:
            encoded = body.encode()
        except UnicodeEncodeError:
            # A lone surrogate: as a \\udXXX escape the JSON keeps the exact value
            # and the body stays UTF-8; only this rare case pays a second encoding.
            encoded = _ASCII_JSON_ENCODER.encode(data).encode()
        super().__init__(encoded, status=status, headers=headers)


def make_response(value: Any, source: str, kind: str = "view") -> _WerkzeugResponse:
    """Turn what a view returned into a response.

    :param source: the view's name, and ``kind`` what it is, for the error about a
        value of the wrong type (kept apart so the hot path formats nothing).
    """
    if isinstance(value, _WerkzeugResponse):
        return value
    if isinstance(value, tuple):
        if len(value) not in (2, 3) or isinstance(value[0], tuple):
            raise TypeError(
                f"{kind} {source!r} returned a tuple of {len(value)} items; return "
                "(body, status) or (body, status, headers)."
            )
        response = make_response(value[0], source, kind)
        response.status = value[1]
        if len(value) == 3:
            response.headers.update(value[2])
        return response
    if isinstance(value, str):
        return Response(value)
    if isinstance(value, bytes | bytearray):
        return Response(bytes(value), mimetype="application/octet-stream")
    if isinstance(value, dict | list):
        return JSONResponse(value)
    raise TypeError(
        f"{kind} {source!r} returned {type(value).__name__} {value!r:.80}; it must return a "
        "Response, str, bytes, dict, list, or a (body, status[, headers]) tuple."
    )

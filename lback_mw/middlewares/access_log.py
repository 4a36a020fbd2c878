"""One access-log record per request, through :mod:`logging`, once the body is sent."""

from __future__ import annotations

import json
import logging
import time
import weakref
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from functools import partial
from typing import Any, ClassVar, Literal, TypedDict

from werkzeug.wrappers import Response as WerkzeugResponse

from ..exceptions import ImproperlyConfigured
from ..wrappers import Request
from ._http import request_target
from .base import BaseMiddleware

_logger = logging.getLogger(__name__)

LogFormat = Literal["common", "combined", "json"]

# process_request's start time, kept in the environ: the instance is shared by threads.
_START_KEY = "lback_mw.access_log.start"

_MONTHS = ("", "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

# Apache's ap_escape_logitem, by hand since neither logging nor werkzeug has it:
# control characters (C0, DEL, C1) and the Unicode line separators become escape
# sequences, and '"' and '\' are backslash-escaped, so no value can end a quoted
# field or start a new line.
_ESCAPES: dict[int, str] = {
    code: f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
    for code in (*range(0x20), *range(0x7F, 0xA0), 0x2028, 0x2029)
}
_ESCAPES.update(
    str.maketrans(
        {"\b": "\\b", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v", '"': '\\"', "\\": "\\\\"}
    )
)


class AccessLogFields(TypedDict):
    """The fields of one request, passed to handlers as ``record.http``.

    Values are raw (not escaped); missing ones are ``None``.
    """

    time: str  # ISO 8601, local time with its UTC offset: when the request came in
    remote_addr: str | None
    user: str | None
    method: str
    path: str  # percent-encoded, with the query string
    protocol: str | None
    status: int
    bytes: int
    duration_ms: float  # to the end of the body
    request_id: str | None
    trace_id: str | None  # the W3C trace id, set by TracingMiddleware
    referer: str | None
    user_agent: str | None


# The unquoted fields (client address, user, request id) end at a space, so a
# space inside one (a user name "a b", a spoofed address) would shift every field
# after it for a log parser; there it is escaped too.
_BARE_ESCAPES = {**_ESCAPES, ord(" "): "\\x20"}


def _clf(value: str | None) -> str:
    return value.translate(_ESCAPES) if value else "-"


def _clf_bare(value: str | None) -> str:
    return value.translate(_BARE_ESCAPES) if value else "-"


def _common_line(fields: AccessLogFields, received: datetime) -> str:
    stamp = f"{received.day:02d}/{_MONTHS[received.month]}/{received:%Y:%H:%M:%S %z}"
    request_line = f"{fields['method']} {fields['path']} {fields['protocol'] or '-'}"
    return (
        f"{_clf_bare(fields['remote_addr'])} - {_clf_bare(fields['user'])} [{stamp}] "
        f'"{_clf(request_line)}" {fields["status"]} {fields["bytes"] or "-"}'
    )


def _extensions(fields: AccessLogFields) -> str:
    # Our two fields after Apache's, as nginx logs append $request_time.
    return f"{fields['duration_ms']:.3f} {_clf_bare(fields['request_id'])}"


def _format_common(fields: AccessLogFields, received: datetime) -> str:
    return f"{_common_line(fields, received)} {_extensions(fields)}"


def _format_combined(fields: AccessLogFields, received: datetime) -> str:
    return (
        f'{_common_line(fields, received)} "{_clf(fields["referer"])}" '
        f'"{_clf(fields["user_agent"])}" {_extensions(fields)}'
    )


def _format_json(fields: AccessLogFields, received: datetime) -> str:
    return _JSON_ENCODER.encode(fields)


# ensure_ascii: control characters and line separators come out as \uXXXX. PERF: one
# encoder for every line, not one per json.dumps call (~1 us); it keeps no state.
_JSON_ENCODER = json.JSONEncoder(ensure_ascii=True, separators=(",", ":"))


_FORMATTERS: dict[str, Callable[[AccessLogFields, datetime], str]] = {
    "common": _format_common,
    "combined": _format_combined,
    "json": _format_json,
}


def _parse_level(level: int | str, owner: str) -> int:
    if isinstance(level, str):
        name = level.strip().upper()
        if not name.isdigit():
            levels = logging.getLevelNamesMapping()
            if name not in levels:
                raise ImproperlyConfigured(
                    f"{owner}: parameter 'level' is {level!r}, which is not a logging "
                    "level. Use DEBUG, INFO, WARNING, ERROR or CRITICAL (any case), or a "
                    "number such as 20."
                )
            return levels[name]
        level = int(name)
    if level < 0:
        raise ImproperlyConfigured(
            f"{owner}: parameter 'level' is {level}; a logging level is 0 or more (INFO is 20)."
        )
    return level


def _username(request: Request) -> str | None:
    """The name of the request's user, if something resolved it; never raises.

    A user nothing read (AuthenticationMiddleware's deferred ``request.user``, see
    :meth:`~lback_mw.wrappers.Request.defer`) is not loaded for the log: that would
    cost a session-store and database round-trip per request, and during an outage
    turn the answer already given (a 503) into a 500. A user object that fails
    when read (a detached ORM instance, a property that raises) is logged as
    ``-`` with a warning: the request is finished, and the log line must not undo it.
    """
    user = vars(request).get("user")  # not getattr: that would load a deferred user
    if user is None:
        return None
    try:
        if not getattr(user, "is_authenticated", True):
            return None
        get_username = getattr(user, "get_username", None)
        if callable(get_username):
            return str(get_username())
        return str(getattr(user, "username", user))
    except Exception as exc:
        _logger.warning(
            "AccessLogMiddleware: request.user (%s) could not be read for the log line, "
            "logged as '-': %s: %s",
            type(user).__name__,
            type(exc).__name__,
            exc,
        )
        return None


class _CountingBody:
    """A streamed body that counts the encoded bytes the server takes from it."""

    __slots__ = ("_body", "_chunks", "sent")

    def __init__(self, body: Iterable[Any], chunks: Iterator[bytes]) -> None:
        self._body = body
        self._chunks = chunks
        self.sent = 0

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._chunks:
            self.sent += len(chunk)
            yield chunk

    def close(self) -> None:
        # The original iterable's close() (a generator's finally, an open file)
        # must still run; werkzeug calls this one instead.
        close = getattr(self._body, "close", None)
        if close is not None:
            close()


def _passthrough_size(request: Request, response: WerkzeugResponse) -> int:
    """What the server will send of a direct-passthrough body: its Content-Length."""
    if request.method == "HEAD" or response.status_code in (204, 304):
        return 0
    return response.content_length or 0


class AccessLogMiddleware(BaseMiddleware):
    """Log one line per request, when its body has been sent.

    :param logger_name: the logger the records go to.
    :param level: their level, a number or a name (``"INFO"``, ``"debug"``).
    :param format: ``"common"`` (Apache's Common Log Format), ``"combined"``
        (plus referer and user agent, nginx's default) or ``"json"``; the first
        two end with the duration in ms and the request id. The trace id is a
        JSON field, and ``record.trace_id`` (``%(trace_id)s``) in the other two.
    """

    ordering_role: ClassVar[str] = "access_log"

    def __init__(
        self,
        *,
        logger_name: str = "lback_mw.access",
        level: int | str = "INFO",
        format: LogFormat = "combined",
    ) -> None:
        owner = type(self).__name__
        if not logger_name.strip():
            raise ImproperlyConfigured(
                f"{owner}: parameter 'logger_name' is empty, which would log to the root "
                "logger. Give a name such as 'lback_mw.access' (the default)."
            )
        if format not in _FORMATTERS:
            raise ImproperlyConfigured(
                f"{owner}: parameter 'format' is {format!r}; use one of "
                f"{', '.join(map(repr, _FORMATTERS))}."
            )
        self.logger = logging.getLogger(logger_name)
        self.level = _parse_level(level, owner)
        self._formatter = _FORMATTERS[format]

    def process_request(self, request: Request) -> None:
        request.environ[_START_KEY] = time.perf_counter()

    def process_response(self, request: Request, response: WerkzeugResponse) -> WerkzeugResponse:
        if not self.logger.isEnabledFor(self.level):
            return response
        # The user is read now: the request's objects are released once the body is sent.
        user = _username(request)
        start = request.environ[_START_KEY]
        if response.direct_passthrough:
            # send_file's answer (static files): werkzeug hands the body, a file
            # wrapper the server may send with sendfile(), to the server as it is,
            # and never calls the response's close(). Wrapping it would cost the
            # sendfile; the record is written now, its size the Content-Length.
            self._emit(request, response, None, start, user, _passthrough_size(request, response))
            return response
        body = None
        if response.is_streamed:
            body = _CountingBody(response.response, response.iter_encoded())
            response.response = body
        # A weak reference: the response holds this callback, so a strong one would
        # make a reference cycle of every logged request (request, environ,
        # response), left for the cyclic collector.
        emit = partial(self._emit_on_close, request, weakref.ref(response), body, start, user)
        response.call_on_close(emit)
        return response

    def _emit_on_close(
        self,
        request: Request,
        response_ref: weakref.ref[WerkzeugResponse],
        body: _CountingBody | None,
        start: float,
        user: str | None,
    ) -> None:
        response = response_ref()
        assert response is not None, "called by the response's own close()"
        self._emit(request, response, body, start, user)

    def _emit(
        self,
        request: Request,
        response: WerkzeugResponse,
        body: _CountingBody | None,
        start: float,
        user: str | None,
        size: int | None = None,
    ) -> None:
        duration = time.perf_counter() - start
        status = response.status_code
        if size is not None:
            sent = size
        elif body is not None:
            sent = body.sent
        elif request.method == "HEAD" or status < 200 or status in (204, 304):
            sent = 0  # werkzeug's Response.get_app_iter sends no body for these
        else:
            sent = sum(map(len, response.iter_encoded()))
        received = datetime.fromtimestamp(time.time() - duration).astimezone()
        path = request_target(request)
        request_id = getattr(request, "id", None)
        trace_id = getattr(request, "trace_id", None)
        fields: AccessLogFields = {
            "time": received.isoformat(timespec="milliseconds"),
            "remote_addr": request.remote_addr,
            "user": user,
            "method": request.method,
            "path": path,
            "protocol": request.environ.get("SERVER_PROTOCOL"),
            "status": status,
            "bytes": sent,
            "duration_ms": round(duration * 1000, 3),
            "request_id": request_id,
            "trace_id": trace_id,
            "referer": request.referrer,
            "user_agent": request.headers.get("User-Agent"),
        }
        # PERF: Logger.log would first walk the stack for the caller's file and line
        # (~2 us), which could only name this line; the record is made and handled as
        # Logger.log does after that walk (handle() applies the filters and handlers).
        logger = self.logger
        record = logger.makeRecord(
            logger.name,
            self.level,
            __file__,
            0,
            self._formatter(fields, received),
            (),
            None,
            "_emit",
            {"http": fields, "request_id": request_id or "-", "trace_id": trace_id or "-"},
        )
        logger.handle(record)

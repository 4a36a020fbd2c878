"""What ``lback-mw run`` changes in werkzeug's development server.

werkzeug's handler skips the response's ``close()`` when the connection drops (a
reset, a timeout) while the server drains the rest of the request, as Chromium's
resets after a form POST answered with a redirect do: the read raises before
``close()`` is reached, against PEP 3333's "must call close()". Every ``call_on_close`` callback
is then lost: the access-log line of the sign-in, the database session's close.
:class:`RememberResponse` and :class:`DevRequestHandler` close such a response
when werkzeug reports the dropped connection.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from werkzeug.serving import WSGIRequestHandler
from werkzeug.wsgi import ClosingIterator

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

#: The response iterable of the request, until something closed it.
_RESPONSE_KEY = "lback_mw.devserver.response"


class RememberResponse:
    """``app``, with its response kept in the environ until it is closed.

    :param app: the WSGI application served, as ``.app``.
    """

    def __init__(self, app: WSGIApplication) -> None:
        self.app = app

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        body = ClosingIterator(
            self.app(environ, start_response), lambda: environ.pop(_RESPONSE_KEY, None)
        )
        environ[_RESPONSE_KEY] = body
        return body


class DevRequestHandler(WSGIRequestHandler):
    """werkzeug's handler, closing what werkzeug left open on a dropped connection."""

    def connection_dropped(self, error: BaseException, environ: Any = None) -> None:
        body = environ.pop(_RESPONSE_KEY, None) if environ is not None else None
        if body is not None:
            body.close()


class QuietDevRequestHandler(DevRequestHandler):
    """Without werkzeug's own line per request: the app's access log writes one."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass

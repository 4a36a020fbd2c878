"""Exceptions become responses here: error handlers, HTTP errors, and the 500 page."""

from __future__ import annotations

import html
import logging
import traceback
from collections.abc import Callable
from typing import Any

from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response as WerkzeugResponse

from .exceptions import dotted_name
from .wrappers import Request, Response, make_response

#: ``handler(request, exc)``, returning anything a view may return.
ErrorHandler = Callable[[Request, Exception], Any]

logger = logging.getLogger("lback_mw.errors")

_PAGE_500 = (
    "<!doctype html>\n<html lang=en>\n<title>500 Internal Server Error</title>\n"
    "<h1>Internal Server Error</h1>\n<p>The server encountered an internal error and was "
    "unable to complete your request.</p>\n"
)


class ErrorResponder:
    """Builds the response for an exception nobody handled, and logs what must be logged."""

    def __init__(self, debug: bool) -> None:
        self.debug = debug
        #: Registered handlers: exception class or HTTP status code -> handler.
        self.handlers: dict[type[BaseException] | int, ErrorHandler] = {}

    def response_for(self, request: Request, exc: Exception) -> WerkzeugResponse:
        handler = self._find_handler(exc)
        if handler is not None:
            try:
                return make_response(handler(request, exc), dotted_name(handler), "error handler")
            except Exception as handler_exc:
                logger.exception(
                    "Error handler %s raised while handling %s on %s %r",
                    dotted_name(handler),
                    type(exc).__name__,
                    request.method,
                    request.path,
                )
                return self._internal_error(handler_exc)
        if isinstance(exc, HTTPException):
            response = exc.get_response(request.environ)
            return Response.force_type(response, request.environ)
        logger.error("Unhandled exception on %s %r", request.method, request.path, exc_info=exc)
        return self._internal_error(exc)

    def bad_return(self, request: Request, where: str, value: Any) -> WerkzeugResponse:
        """A hook returned something that is not a response: log it and answer 500."""
        logger.error(
            "%s returned %s, expected a Response, on %s %r; answering 500.",
            where,
            type(value).__name__,
            request.method,
            request.path,
        )
        return self._internal_error(
            TypeError(f"{where} returned {type(value).__name__}, expected a Response")
        )

    def _find_handler(self, exc: Exception) -> ErrorHandler | None:
        if not self.handlers:
            return None
        # Flask's precedence: for an HTTP error, the classes that carry its status
        # code, most specific first (a handler for a Forbidden subclass beats one
        # for 403 or Forbidden), then the code, then the rest of the hierarchy
        # (HTTPException, Exception); any other exception by class, then as a 500.
        mro = type(exc).__mro__
        keys: tuple[type[BaseException] | int, ...]
        if isinstance(exc, HTTPException):
            code = exc.code or 500
            coded = tuple(c for c in mro if getattr(c, "code", None) == code)
            rest = tuple(c for c in mro if c not in coded)
            keys = (*coded, code, *rest)
        else:
            keys = (*mro, 500)
        for key in keys:
            handler = self.handlers.get(key)
            if handler is not None:
                return handler
        return None

    def _internal_error(self, exc: BaseException) -> WerkzeugResponse:
        body = _PAGE_500
        if self.debug:
            trace = "".join(traceback.format_exception(exc))
            body += f"<h2>Traceback (DEBUG is on)</h2>\n<pre>{html.escape(trace)}</pre>\n"
        response = Response(body, status=500)
        # For App.propagate_exceptions: the interactive debugger needs the exception.
        response.unhandled_exception = exc  # type: ignore[attr-defined]
        return response

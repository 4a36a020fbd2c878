"""The request pipeline: the chain flattened into tuples of bound methods.

Semantics (Django's onion):

* ``process_request`` runs in list order; the first response short-circuits.
* ``process_response`` runs in reverse over every middleware whose
  ``process_request`` completed, including the one that short-circuited.
* An exception from the view or a ``process_request`` goes to
  ``process_exception`` of the entered middlewares, innermost first; otherwise it
  becomes an error response, which still flows through ``process_response``.
* An exception in ``process_response`` becomes an error response handed to the
  next middleware out.

A ``call_next`` layer splits the chain in two: the hook middlewares outside it
form one run, those inside another. ``call_next`` never raises: the inner run
turns exceptions into responses, as Django's ``get_response`` does.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from werkzeug.wrappers import Response as WerkzeugResponse

from .errors import ErrorResponder
from .layers import Layer
from .wrappers import Request

Handler = Callable[[Request], WerkzeugResponse]

#: The WSGI environ key holding the last exception a layer turned into a response
#: (by ``process_exception``, an error handler or the 500 page). A layer that sees
#: only the response, such as a database session choosing between commit and
#: rollback, still learns that something inside it failed.
EXCEPTION_KEY = "lback_mw.exception"


def build_handler(layers: Sequence[Layer], endpoint: Handler, errors: ErrorResponder) -> Handler:
    """Compose ``layers`` (outermost first) around ``endpoint`` into one callable.

    The outermost piece is always a hook run, so no exception escapes the handler.
    """
    handler = endpoint
    run: list[Layer] = []
    for layer in reversed(layers):
        if layer.style == "call_next":
            handler = _CallNextLayer(layer, _HookRun(run[::-1], handler, errors), errors)
            run = []
        else:
            run.append(layer)
    return _HookRun(run[::-1], handler, errors)


class _HookRun:
    """Consecutive hook-style middlewares around an inner handler."""

    __slots__ = (
        "_errors",
        "_exception_hooks",
        "_inner",
        "_positions",
        "_request_hooks",
        "_response_hooks",
        "_size",
        "_where",
    )

    def __init__(self, layers: Sequence[Layer], inner: Handler, errors: ErrorResponder) -> None:
        # PERF: resolve bound methods once, so a request only loops over tuples.
        # Hooks a middleware does not implement are not in the tuples at all.
        self._inner = inner
        self._errors = errors
        self._size = len(layers)
        requests: list[Any] = []
        responses: list[tuple[int, Any]] = []
        exceptions: list[tuple[int, Any]] = []
        self._positions: dict[int, int] = {}
        self._where: dict[int, str] = {}
        for position, layer in enumerate(layers):
            for name, bucket in (
                ("process_request", None),
                ("process_response", responses),
                ("process_exception", exceptions),
            ):
                if name not in layer.hooks:
                    continue
                hook = getattr(layer.instance, name)
                self._where[id(hook)] = f"{layer.path}.{name}"
                if bucket is None:
                    requests.append(hook)
                    self._positions[id(hook)] = position
                else:
                    bucket.append((position, hook))
        self._request_hooks: tuple[Any, ...] = tuple(requests)
        # Indexed by how many middlewares were entered, innermost first.
        self._response_hooks = tuple(
            tuple(hook for position, hook in reversed(responses) if position < entered)
            # mutation: equivalent "1 -> 2 at col 46" - never indexed: entered <= size
            for entered in range(self._size + 1)
        )
        self._exception_hooks = tuple(
            tuple(hook for position, hook in reversed(exceptions) if position < entered)
            # mutation: equivalent "1 -> 2 at col 46" - never indexed: entered <= size
            for entered in range(self._size + 1)
        )

    def __call__(self, request: Request) -> WerkzeugResponse:
        # PERF: the hot path is one loop forward and one loop back over tuples.
        for hook in self._request_hooks:
            try:
                response = hook(request)
            except Exception as exc:
                entered = self._positions[id(hook)]
                response = self._handle_exception(request, exc, entered)
                return self._respond(request, response, entered)
            if response is not None:
                entered = self._positions[id(hook)]
                if not isinstance(response, WerkzeugResponse):
                    response = self._errors.bad_return(request, self._where[id(hook)], response)
                    return self._respond(request, response, entered)
                return self._respond(request, response, entered + 1)
        try:
            response = self._inner(request)
        except Exception as exc:
            response = self._handle_exception(request, exc, self._size)
        return self._respond(request, response, self._size)

    def _respond(
        self, request: Request, response: WerkzeugResponse, entered: int
    ) -> WerkzeugResponse:
        for hook in self._response_hooks[entered]:
            try:
                result = hook(request, response)
            except Exception as exc:
                # Not offered to process_exception: the inner layers are done.
                request.environ[EXCEPTION_KEY] = exc
                result = self._errors.response_for(request, exc)
            else:
                if not isinstance(result, WerkzeugResponse):
                    result = self._errors.bad_return(request, self._where[id(hook)], result)
            response = result
        return response

    def _handle_exception(self, request: Request, exc: Exception, entered: int) -> WerkzeugResponse:
        request.environ[EXCEPTION_KEY] = exc
        for hook in self._exception_hooks[entered]:
            try:
                result = hook(request, exc)
            except Exception as hook_exc:
                return self._errors.response_for(request, hook_exc)
            if result is not None:
                if isinstance(result, WerkzeugResponse):
                    return result
                return self._errors.bad_return(request, self._where[id(hook)], result)
        return self._errors.response_for(request, exc)


class _CallNextLayer:
    """A ``dispatch(request, call_next)`` middleware; ``call_next`` runs the inner chain."""

    __slots__ = ("_dispatch", "_errors", "_inner", "_where")

    def __init__(self, layer: Layer, inner: Handler, errors: ErrorResponder) -> None:
        # mutation: equivalent "0 -> -1 at col 29" - a call_next layer has exactly one hook
        method = layer.hooks[0]
        self._dispatch = getattr(layer.instance, method) if method == "dispatch" else layer.instance
        self._inner = inner
        self._errors = errors
        self._where = f"{layer.path}.{method}"

    def __call__(self, request: Request) -> WerkzeugResponse:
        response = self._dispatch(request, self._inner)
        if isinstance(response, WerkzeugResponse):
            return response
        return self._errors.bad_return(request, self._where, response)

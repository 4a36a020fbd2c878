"""The request pipeline: the chain flattened into tuples of bound methods.

Semantics (Django's onion):

* ``process_request`` runs in list order; the first response short-circuits.
* ``process_view`` runs once routing matched and every ``process_request``
  completed, in list order, just before the view; a response skips the rest of
  them and the view. It is driven by a step placed at that point of the chain
  (:func:`view_stage`), so its exceptions and responses take the same way out as a
  view's.
* ``process_response`` runs in reverse over every middleware whose
  ``process_request`` completed, including the one that short-circuited.
* An exception from the view, a ``process_view`` or a ``process_request`` goes to
  ``process_exception`` of the entered middlewares, innermost first; otherwise it
  becomes an error response, which still flows through ``process_response``.
* An exception in ``process_response`` becomes an error response handed to the
  next middleware out.

A ``call_next`` layer splits the chain in two: the hook middlewares outside it
form one run, those inside another. ``call_next`` never raises: the inner run
turns exceptions into responses, as Django's ``get_response`` does. A Django
``__call__(request)`` middleware is such a layer whose ``get_response`` is the
inner run; its ``process_exception``, as in Django's ``BaseHandler``, is offered
what the runs inside it did not handle.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from werkzeug.wrappers import Response as WerkzeugResponse

from ._environ_keys import EXCEPTION_KEY as EXCEPTION_KEY
from .errors import ErrorResponder
from .layers import Layer
from .paths import PathScope
from .wrappers import Request

Handler = Callable[[Request], WerkzeugResponse]


_WRAPPING = ("call_next", "django")


def build_handler(layers: Sequence[Layer], endpoint: Handler, errors: ErrorResponder) -> Handler:
    """Compose ``layers`` (outermost first) around ``endpoint`` into one callable.

    The outermost piece is always a hook run, so no exception escapes the handler.
    """
    runs: list[list[Layer]] = [[]]
    wrappers: list[Layer] = []
    for layer in layers:
        if layer.style in _WRAPPING:
            wrappers.append(layer)
            runs.append([])
        else:
            runs[-1].append(layer)
    handler = endpoint
    for depth in range(len(wrappers), -1, -1):  # the innermost run first
        # A Django layer's process_exception sees what the runs inside it did not handle.
        rescue = [
            layer
            for layer in reversed(wrappers[:depth])
            if layer.style == "django" and "process_exception" in layer.hooks
        ]
        handler = _HookRun(runs[depth], handler, errors, rescue)
        if depth:
            wrapper = wrappers[depth - 1]
            handler = (
                _DjangoLayer(wrapper, handler, errors)
                if wrapper.style == "django"
                else _CallNextLayer(wrapper, handler, errors)
            )
    return handler


def view_stage(
    layers: Sequence[Layer], view_of: Callable[[Request], Any], errors: ErrorResponder
) -> Layer:
    """The step that runs the ``process_view`` hooks of ``layers`` for the request's
    view (``view_of(request)``).

    It takes the place of one more ``process_request`` at the end of ``layers``:
    a response from it is a short-circuit and an exception is offered to the
    ``process_exception`` of every layer outside it, as a view's is.
    """
    hooks = [(layer, _view_hook(layer)) for layer in layers if "process_view" in layer.hooks]
    stage = _ViewStage(view_of, hooks, errors)
    return Layer(
        "process_view", "lback_mw.pipeline.process_view", stage, "hooks", ("process_request",)
    )


def scoped(layer: Layer, scope: PathScope) -> Layer:
    """``layer`` behind a per-request check of ``request.path`` against ``scope``.

    For routes whose rule leaves the scope open, and for unmatched paths; every
    other route has the decision compiled in (the layer is in its chain or not).
    """
    guard = _ScopeGuard(layer, scope)
    hooks = ("dispatch",) if layer.style == "call_next" else layer.hooks
    return replace(layer, instance=guard, hooks=hooks)


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

    def __init__(
        self,
        layers: Sequence[Layer],
        inner: Handler,
        errors: ErrorResponder,
        rescue: Sequence[Layer] = (),
    ) -> None:
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
        outer = []
        for layer in rescue:
            hook = layer.instance.process_exception
            self._where[id(hook)] = f"{layer.path}.process_exception"
            outer.append(hook)
        self._exception_hooks = tuple(
            (*(hook for position, hook in reversed(exceptions) if position < entered), *outer)
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
                _record(request, exc)
                result = self._errors.response_for(request, exc)
            else:
                # PERF: most hooks hand back the response they were given, which is one;
                # the identity test spares them the isinstance (~0.02 us a layer).
                if result is not response and not isinstance(result, WerkzeugResponse):
                    result = self._errors.bad_return(request, self._where[id(hook)], result)
            response = result
        return response

    def _handle_exception(self, request: Request, exc: Exception, entered: int) -> WerkzeugResponse:
        _record(request, exc)
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


def _record(request: Request, exc: Exception) -> None:
    """Keep ``exc`` as the request's last failure, chained to the one before it.

    A ``process_response`` that fails on the 500 of a failed view raises outside
    any ``except``, so Python chains nothing: the log and the DEBUG page would
    show the second error only, and hide the one that started it.
    """
    previous = request.environ.get(EXCEPTION_KEY)
    if previous is not None and previous is not exc and exc.__context__ is None:
        exc.__context__ = previous
    request.environ[EXCEPTION_KEY] = exc


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


class _DjangoLayer:
    """A Django new-style middleware: ``__call__(request)`` around its ``get_response``.

    The instance is built once, at start-up, with a ``get_response`` that runs
    the inner chain of the request at hand (:class:`~lback_mw.layers.InnerChain`),
    so one instance serves every route's chain.
    """

    __slots__ = ("_call", "_errors", "_inner", "_key", "_where")

    def __init__(self, layer: Layer, inner: Handler, errors: ErrorResponder) -> None:
        assert layer.get_response is not None  # the loader sets it for Django layers
        self._call = layer.instance
        self._key = layer.get_response.key
        self._inner = inner
        self._errors = errors
        self._where = f"{layer.path}.__call__"

    def __call__(self, request: Request) -> WerkzeugResponse:
        request.environ[self._key] = self._inner
        response = self._call(request)
        if isinstance(response, WerkzeugResponse):
            return response
        return self._errors.bad_return(request, self._where, response)


class _ViewStage:
    """Runs ``process_view`` hooks in list order; see :func:`view_stage`."""

    __slots__ = ("_errors", "_hooks", "_view_of", "_where")

    def __init__(
        self,
        view_of: Callable[[Request], Any],
        hooks: Sequence[tuple[Layer, Any]],
        errors: ErrorResponder,
    ) -> None:
        self._view_of = view_of
        self._hooks = tuple(hook for _, hook in hooks)
        self._where = {id(hook): f"{layer.path}.process_view" for layer, hook in hooks}
        self._errors = errors

    def process_request(self, request: Request) -> WerkzeugResponse | None:
        view, kwargs = self._view_of(request), request.view_args
        for hook in self._hooks:
            response = hook(request, view, kwargs)
            if response is not None:
                if isinstance(response, WerkzeugResponse):
                    return response
                return self._errors.bad_return(request, self._where[id(hook)], response)
        return None


def _view_hook(layer: Layer) -> Any:
    """The bound ``process_view``; Django's ``(request, view_func, view_args, view_kwargs)``
    form is called with empty ``view_args``, as Django does for keyword captures."""
    method = layer.instance.process_view
    target = getattr(method, "__wrapped__", method)
    positional = [
        p
        for p in inspect.signature(target).parameters.values()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    if len(positional) == 4:
        return lambda request, view, kwargs: method(request, view, (), kwargs)
    return method


class _ScopeGuard:
    """Stands in for a layer's instance: each hook runs only for paths in the scope."""

    def __init__(self, layer: Layer, scope: PathScope) -> None:
        inner = layer.instance
        self.get_response = layer.get_response
        for name in layer.hooks:
            if name == "__call__" and layer.style == "django":
                assert layer.get_response is not None
                self._django = _guard_django(inner, layer.get_response, scope)
            elif name == "__call__":
                self.dispatch = _guard_call_next(inner, scope)
            elif name == "process_view":
                self.process_view = _guard_view(_view_hook(layer), scope)
            else:
                setattr(self, name, _GUARDS[name](getattr(inner, name), scope))

    def __call__(self, request: Request) -> WerkzeugResponse:
        return self._django(request)  # type: ignore[no-any-return]


def _guard_django(hook: Any, get_response: Handler, scope: PathScope) -> Any:
    return lambda request: hook(request) if request.path in scope else get_response(request)


def _guard_request(hook: Any, scope: PathScope) -> Any:
    return lambda request: hook(request) if request.path in scope else None


def _guard_view(hook: Any, scope: PathScope) -> Any:
    return lambda request, *args: hook(request, *args) if request.path in scope else None


def _guard_response(hook: Any, scope: PathScope) -> Any:
    return lambda request, response: hook(request, response) if request.path in scope else response


def _guard_call_next(hook: Any, scope: PathScope) -> Any:
    return lambda request, call_next: (
        hook(request, call_next) if request.path in scope else call_next(request)
    )


_GUARDS: dict[str, Callable[[Any, PathScope], Any]] = {
    "process_request": _guard_request,
    "process_exception": _guard_view,
    "process_response": _guard_response,
    "dispatch": _guard_call_next,
}

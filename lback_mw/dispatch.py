"""Routing once per request, then the middleware chain compiled for that route.

The app matches the request before any middleware runs and keeps the match on
the request (``url_rule``, ``view_args``, ``endpoint``); a request no route
matches keeps the reason in ``routing_exception``, raised where the view would
have run, so middleware still sees (and may answer) the 404 or 405.

Each route gets its chain at start-up: the global layers minus those its
``exclude_middleware`` names and those whose ``paths``/``exclude_paths`` leave
out every path of the rule, then the route's own layers. Routes with the same
layers share one compiled chain. Only a layer whose scope the rule leaves open
(``paths=["/users/7"]`` on ``/users/<int:id>``), and every scoped layer on an
unmatched path, checks ``request.path`` per request.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from typing import Any

from werkzeug.exceptions import HTTPException
from werkzeug.routing import Rule
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Response as WerkzeugResponse

from .errors import ErrorResponder
from .exceptions import dotted_name
from .layers import HookWrapper, Layer, RouteLayers, instrumented
from .pipeline import Handler, build_handler, scoped, view_stage
from .routing import Router
from .sentry import name_transaction
from .wrappers import Request, make_response

#: Where Sentry is looked for: it names a transaction only once it is imported.
_LOADED_MODULES = sys.modules


def decide(layer: Layer, rule: Rule | None, route: RouteLayers | None) -> tuple[bool | None, str]:
    """Whether ``layer`` runs for every request ``rule`` matches (``None``: it depends
    on the path), and why, in the words of the settings."""
    if route is not None and id(layer) in route.excluded:
        return False, f"switched off by {route.excluded[id(layer)]}"
    if layer.scope is None:
        return True, "runs for every path"
    if rule is None:
        return None, "scoped: decided per request"
    verdict = layer.scope.decide(rule)
    if verdict is None:
        return None, f"scoped: rule {rule.rule!r} leaves it to the path"
    return verdict, f"scoped: decided for rule {rule.rule!r}"


def explain(
    router: Router,
    chain: Sequence[Layer],
    routes: Mapping[int, RouteLayers],
    path: str,
    method: str = "GET",
) -> dict[str, Any]:
    """The chain a ``method`` request for ``path`` gets, as ``lback-mw middleware
    --path`` shows it: each global layer kept or skipped with the reason, then the
    route's own layers and the view."""
    request = Request(EnvironBuilder(path=path, method=method.upper()).get_environ())
    rule: Rule | None = None
    routing: str | None = None
    try:
        rule, _ = router.match(request)
    except HTTPException as exc:
        routing = f"{exc.code} {exc.name}"
    route = None if rule is None else routes.get(id(rule))
    layers = []
    for layer in chain:
        verdict, reason = decide(layer, rule, route)
        if layer.scope is not None and not (route is not None and id(layer) in route.excluded):
            verdict, reason = request.path in layer.scope, layer.scope.reason(request.path)
        layers.append(
            {"label": layer.label, "class": layer.path, "runs": verdict, "reason": reason}
        )
    view = None
    if rule is not None:
        view = dotted_name(router.view_for(rule.endpoint))
        if method.upper() == "OPTIONS" and router.answers_options(rule):
            view = "(the router's automatic OPTIONS answer)"
    return {
        "path": request.path,
        "method": request.method,
        "rule": None if rule is None else rule.rule,
        "endpoint": None if rule is None else rule.endpoint,
        "routing": routing,
        "chain": layers,
        "route_middleware": [
            {"label": layer.label, "class": layer.path, "hooks": list(layer.hooks)}
            for layer in (route.layers if route is not None else [])
        ],
        "route_skipped": [
            {"label": skipped.label, "class": skipped.path, "reason": skipped.reason}
            for skipped in (route.skipped if route is not None else [])
        ],
        "view": view,
    }


class Dispatcher:
    """The app's handler: match once, then run the route's compiled chain."""

    def __init__(
        self,
        router: Router,
        chain: Sequence[Layer],
        routes: Mapping[int, RouteLayers],
        errors: ErrorResponder,
        wrappers: Sequence[HookWrapper] = (),
    ) -> None:
        self._router = router
        self._match = router.match
        self._chain = tuple(chain)
        self._routes = routes
        self._errors = errors
        self._views = _ViewCall(router)
        #: The one chain every route shares, when no route differs (the common case).
        self._single: Handler | None = None
        self._in_use: set[int] = set()
        self._shared: dict[tuple[Any, ...], Handler] = {}
        #: ``id(rule)`` -> handler (rules are unhashable), and the handler of the
        #: router's automatic OPTIONS answer.
        self._handlers: dict[int, Handler] = {}
        self._options: dict[int, Handler] = {}
        self._guarded: dict[int, Layer] = {}
        #: ``App.instrument_hooks`` wrappers, and each layer as they wrap it, by id.
        self._wrappers = tuple(wrappers)
        self._instrumented: dict[int, Layer] = {}
        unmatched = [
            self._guard(layer) if layer.scope else self._instrument(layer) for layer in chain
        ]
        self._unmatched = build_handler(unmatched, _raise_routing_exception, errors)
        for rule in router.rules():
            self.add(rule)

    def dispatch(self, request: Request) -> WerkzeugResponse:
        """Match ``request``, then run its route's chain (the app's request handler)."""
        try:
            rule, values = self._match(request)
        except Exception as exc:  # 404, 405, a redirect, or a converter's own bug
            request.routing_exception = exc
            return self._unmatched(request)
        request.url_rule = rule
        request.view_args = values
        sentry_sdk = _LOADED_MODULES.get("sentry_sdk")
        if sentry_sdk is not None:  # PERF: no call at all without Sentry (~0.05 us)
            name_transaction(sentry_sdk, rule.rule)
        if request.method == "OPTIONS":
            options = self._options.get(id(rule))
            if options is not None:
                return options(request)
        # PERF: an app whose routes all share one chain pays no lookup at all;
        # otherwise one dictionary lookup picks it. Nothing is matched again.
        handler = self._single or self._handlers[id(rule)]
        return handler(request)

    def add(self, rule: Rule) -> Handler:
        """Compile the chain of ``rule``; routes with the same layers share one."""
        route = self._routes.get(id(rule))
        kept = []
        for layer in self._chain:
            verdict, _ = decide(layer, rule, route)
            if verdict is None:
                kept.append(self._guard(layer))
            elif verdict:
                kept.append(self._instrument(layer))
        own = [self._instrument(layer) for layer in route.layers] if route is not None else []
        key = tuple(id(layer.instance) for layer in (*kept, *own))
        handler = self._shared.get(key)
        if handler is None:
            layers = [*kept, *self._view_stage(kept), *own, *self._view_stage(own)]
            handler = self._shared[key] = build_handler(layers, self._views.call, self._errors)
        self._handlers[id(rule)] = handler
        self._in_use.add(id(handler))
        self._single = handler if len(self._in_use) == 1 else None
        if self._router.answers_options(rule):
            # No view, so no process_view: the router answers with Allow.
            options = self._shared.get(("OPTIONS", *key))
            if options is None:
                options = self._shared[("OPTIONS", *key)] = build_handler(
                    [*kept, *own], self._router.options_response, self._errors
                )
            self._options[id(rule)] = options
        return handler

    def _view_stage(self, layers: Sequence[Layer]) -> list[Layer]:
        # PERF: no step at all where no layer has process_view.
        if any("process_view" in layer.hooks for layer in layers):
            return [view_stage(layers, self._views.view_of, self._errors)]
        return []

    def _guard(self, layer: Layer) -> Layer:
        guarded = self._guarded.get(id(layer))
        if guarded is None:
            assert layer.scope is not None  # only a scope leaves a layer to the path
            guarded = self._guarded[id(layer)] = scoped(self._instrument(layer), layer.scope)
        return guarded

    def _instrument(self, layer: Layer) -> Layer:
        """``layer`` through every wrapper, built once per layer (routes share it).

        Done here, after the exclusions and scopes are decided: those know the
        layers as configured.
        """
        if not self._wrappers:
            return layer
        wrapped = self._instrumented.get(id(layer))
        if wrapped is None:
            wrapped = layer
            for wrapper in self._wrappers:
                wrapped = instrumented(wrapped, wrapper)
            self._instrumented[id(layer)] = wrapped
        return wrapped


class _ViewCall:
    """The innermost handler: the matched rule's view, called with its URL values."""

    __slots__ = ("_views", "call")

    def __init__(self, router: Router) -> None:
        views = self._views = router.views()

        # PERF: a closure, not a method: the innermost call of every request.
        def call_view(request: Request) -> WerkzeugResponse:
            endpoint: str = request.url_rule.endpoint  # type: ignore[union-attr]
            result = views[endpoint](request, **request.view_args)  # type: ignore[arg-type]
            # PERF: a view that returned a response needs no make_response call.
            if isinstance(result, WerkzeugResponse):
                return result
            return make_response(result, endpoint)

        self.call = call_view

    def view_of(self, request: Request) -> Any:
        assert request.url_rule is not None  # only matched requests get here
        return self._views[request.url_rule.endpoint]


def _raise_routing_exception(request: Request) -> WerkzeugResponse:
    assert request.routing_exception is not None  # the unmatched chain's endpoint
    raise request.routing_exception

"""Routing on werkzeug's URL map, with a dictionary in front for static paths."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from werkzeug.routing import Map, MapAdapter, RequestRedirect, Rule
from werkzeug.wrappers import Response as WerkzeugResponse

from .exceptions import ImproperlyConfigured, did_you_mean, dotted_name, refuse_async
from .segment_matcher import SegmentMatcher
from .wrappers import Request, Response

View = Callable[..., Any]

#: The converter names in a rule: ``<int:id>``, ``<any(a, b):kind>``.
_CONVERTER = re.compile(r"<\s*([A-Za-z_]\w*)\s*(?:\([^)]*\))?\s*:")


@dataclass
class Route:
    """A route for a ``ROUTES`` module's ``routes`` list: ``Route("/users/<int:id>", user)``."""

    rule: str
    view: View
    methods: Sequence[str] | None = None
    endpoint: str | None = None
    #: Further werkzeug ``Rule`` options (``defaults``, ``strict_slashes``...).
    options: dict[str, Any] = field(default_factory=dict)
    #: This route's own middleware, in any ``MIDDLEWARES`` form; it runs inside the
    #: global chain.
    middleware: Sequence[Any] = ()
    #: Global middleware (dotted paths or classes) switched off for this route.
    exclude_middleware: Sequence[Any] = ()


@dataclass(frozen=True)
class RouteMiddleware:
    """A route's ``middleware`` and ``exclude_middleware`` as given, built by the app."""

    #: Names the route in errors: ``"ROUTES[2]"`` or ``"route '/api/notes'"``.
    label: str
    middleware: tuple[Any, ...] = ()
    exclude_middleware: tuple[Any, ...] = ()


class Router:
    """Maps URLs to views. ``HEAD`` follows ``GET`` and ``OPTIONS`` is answered
    automatically (with ``Allow``) unless a route lists it.
    """

    def __init__(self) -> None:
        self.url_map = Map()
        self._views: dict[str, View] = {}
        self._auto_options: set[str] = set()
        # PERF: werkzeug's matcher costs ~2-3.5 us; an exact path -> method -> rule
        # dictionary answers rules without converters in ~0.1 us. Anything it does
        # not know (405, redirects, converters) falls through to the segment
        # matcher, then to werkzeug.
        self._static: dict[str, dict[str, Rule]] = {}
        self._segments = SegmentMatcher()
        #: Endpoints with a rule that has ``defaults`` or an ``alias``: werkzeug may
        #: redirect between their rules, so none of them takes a fast path.
        self._redirecting: set[str] = set()
        self._adapter: MapAdapter = self.url_map.bind("localhost")
        # Keyed by id(rule): werkzeug rules compare by value and are unhashable.
        self._middleware: dict[int, RouteMiddleware] = {}
        #: Called with each new rule, so the app compiles its chain at once.
        self.on_add: Callable[[Rule], None] | None = None

    def add(
        self,
        rule: str,
        view: View,
        methods: Iterable[str] | None = None,
        endpoint: str | None = None,
        *,
        middleware: Sequence[Any] = (),
        exclude_middleware: Sequence[Any] = (),
        label: str | None = None,
        **options: Any,
    ) -> Rule:
        """Register ``view`` for ``rule`` (werkzeug syntax, e.g. ``/users/<int:id>``).

        ``middleware`` and ``exclude_middleware`` are kept for the app to build
        (see :class:`Route`); ``label`` names the route in their errors.
        """
        endpoint = endpoint or getattr(view, "__name__", None)
        if not endpoint:
            raise ImproperlyConfigured(f"Route {rule!r}: give an endpoint name for {view!r}.")
        refuse_async(view, f"Route {rule!r}", f"the view {dotted_name(view)}", "views")
        existing = self._views.get(endpoint)
        if existing is not None and existing is not view:
            raise ImproperlyConfigured(
                f"Route {rule!r}: endpoint {endpoint!r} is already used by "
                f"{dotted_name(existing)}; pass endpoint='...' to "
                "tell the two views apart."
            )
        wanted = {method.upper() for method in (methods or ("GET",))}
        if "OPTIONS" not in wanted:
            wanted.add("OPTIONS")
            self._auto_options.add(endpoint)
        try:
            url_rule = Rule(rule, endpoint=endpoint, methods=sorted(wanted), **options)
            self.url_map.add(url_rule)
        except LookupError as exc:  # werkzeug's "the converter 'itn' does not exist"
            raise ImproperlyConfigured(self._unknown_converter(rule)) from exc
        except (ValueError, TypeError) as exc:
            raise ImproperlyConfigured(f"Route {rule!r} is invalid: {exc}") from exc
        self._views[endpoint] = view
        self._index(url_rule, endpoint)
        if middleware or exclude_middleware:
            for name, value in (
                ("middleware", middleware),
                ("exclude_middleware", exclude_middleware),
            ):
                if isinstance(value, str) or not isinstance(value, Sequence):
                    raise ImproperlyConfigured(
                        f"Route {rule!r}: {name} must be a list, like [{value!r}]."
                    )
            self._middleware[id(url_rule)] = RouteMiddleware(
                label or f"route {rule!r}", tuple(middleware), tuple(exclude_middleware)
            )
        if self.on_add is not None:
            self.on_add(url_rule)
        return url_rule

    def route(
        self,
        rule: str,
        methods: Iterable[str] | None = None,
        endpoint: str | None = None,
        **options: Any,
    ) -> Callable[[View], View]:
        """Decorator form of :meth:`add`."""

        def register(view: View) -> View:
            self.add(rule, view, methods, endpoint, **options)
            return view

        return register

    def add_routes(self, routes: Iterable[Route], setting: str | None = None) -> list[Rule]:
        """Register :class:`Route` entries; ``setting`` (``"ROUTES"``) labels them in errors."""
        return [
            self.add(
                route.rule,
                route.view,
                route.methods,
                route.endpoint,
                middleware=route.middleware,
                exclude_middleware=route.exclude_middleware,
                label=None if setting is None else f"{setting}[{index}]",
                **route.options,
            )
            for index, route in enumerate(routes)
        ]

    def match(self, request: Request) -> tuple[Rule, dict[str, Any]]:
        """Return ``(rule, url values)``, or raise werkzeug's 404/405/308."""
        path = request.path
        by_method = self._static.get(path)
        if by_method is not None:
            rule = by_method.get(request.method)
            if rule is not None:
                return rule, {}
        if self._segments.enabled:
            found = self._segments.match(path, request.method)
            if found is not None:
                return found
        try:
            rule, values = self._adapter.match(path, request.method, return_rule=True)
        except RequestRedirect:
            # The shared adapter does not know this request's host and scheme;
            # let werkzeug build the redirect from the real environ.
            adapter = self.url_map.bind_to_environ(request.environ)
            rule, values = adapter.match(return_rule=True)
        return rule, dict(values)

    def answers_options(self, rule: Rule) -> bool:
        """Whether the router answers ``OPTIONS`` for ``rule`` (the route does not list it)."""
        return rule.endpoint in self._auto_options

    def _unknown_converter(self, rule: str) -> str:
        known = self.url_map.converters
        name = next((n for n in _CONVERTER.findall(rule) if n not in known), "?")
        return (
            f"Route {rule!r}: unknown converter {name!r}.{did_you_mean(name, known)} "
            f"The converters are: {', '.join(sorted(known))}; a project adds its own to "
            "app.router.url_map.converters before registering the route."
        )

    def options_response(self, request: Request) -> WerkzeugResponse:
        """The automatic answer to ``OPTIONS``: 200 with ``Allow``."""
        allowed = self._adapter.allowed_methods(request.path)
        return Response(status=200, headers={"Allow": ", ".join(sorted(allowed))})

    def middleware_for(self, rule: Rule) -> RouteMiddleware | None:
        """The route's own ``middleware``/``exclude_middleware``, if it has any."""
        return self._middleware.get(id(rule))

    def url_for(
        self,
        endpoint: str,
        /,
        *,
        request: Request | None = None,
        _external: bool = False,
        **values: Any,
    ) -> str:
        """Build the URL of ``endpoint``; with a request, for its host and script root."""
        if request is not None:
            adapter = self.url_map.bind_to_environ(request.environ)
        elif _external:
            raise RuntimeError(
                f"url_for({endpoint!r}, _external=True) needs the request to know the "
                "host; call request.url_for(...) instead."
            )
        else:
            adapter = self._adapter
        return adapter.build(endpoint, values, force_external=_external)

    def rules(self) -> list[Rule]:
        """Registered rules in the order they were added, for ``lback-mw routes``."""
        return list(self.url_map.iter_rules())

    def _index(self, rule: Rule, endpoint: str) -> None:
        """Add ``rule`` to the fast matchers, or take its endpoint out of them."""
        if (rule.defaults or rule.alias) and endpoint not in self._redirecting:
            self._redirecting.add(endpoint)
            self._segments.forget(endpoint)
            for by_method in self._static.values():
                for method in [m for m, known in by_method.items() if known.endpoint == endpoint]:
                    del by_method[method]
        fast = endpoint not in self._redirecting
        self._segments.add(rule, self.url_map, modelled=fast)
        if fast and self._is_static(rule):
            by_method = self._static.setdefault(rule.rule, {})
            for method in rule.methods or ():
                by_method.setdefault(method, rule)

    def view_for(self, endpoint: str) -> View:
        return self._views[endpoint]

    def views(self) -> Mapping[str, View]:
        """Endpoint -> view, live (later routes appear in it), for the dispatcher."""
        return self._views

    @staticmethod
    def _is_static(rule: Rule) -> bool:
        return not (
            rule.arguments
            or rule.defaults
            or rule.redirect_to
            or rule.alias
            or rule.host
            or rule.subdomain
            or rule.websocket
            or rule.build_only
        )

"""The WSGI application and :func:`create_app`, which builds it from settings."""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from werkzeug.routing import Rule

from ._imports import import_object
from .dispatch import Dispatcher
from .errors import ErrorResponder
from .exceptions import ImproperlyConfigured, dotted_name, refuse_async
from .injection import MISSING, Dependencies, logger_for
from .layers import HookWrapper, Layer, RouteLayers, SkippedLayer
from .loader import (
    check_call_next_signature,
    classify,
    instantiate,
    load_middlewares,
    load_route_middleware,
    resolve_exclusions,
    wrap_wsgi_middlewares,
)
from .log_config import configure_logging
from .routing import Route, Router, View
from .settings import Settings, load_settings
from .wrappers import Request

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment
    from sqlalchemy.orm import Session, sessionmaker

    from ._client import Client
    from .templating import TemplateRenderer

F = TypeVar("F", bound=Callable[..., Any])


def _setup_method(method: F) -> F:
    """Refuse registrations once requests are being served (Flask's guard)."""

    @wraps(method)
    def guarded(self: App, *args: Any, **kwargs: Any) -> Any:
        if self._serving:
            raise RuntimeError(
                f"app.{method.__name__}() was called after the app started serving "
                "requests. Register routes, middleware, hooks and dependencies before "
                "the first request (in create_app's caller or in settings)."
            )
        return method(self, *args, **kwargs)

    return guarded  # type: ignore[return-value]


class App:
    """A WSGI application: ``app(environ, start_response)``.

    Build it with :func:`create_app`, which loads the settings and every
    ``MIDDLEWARES`` entry. ``app.wsgi_app`` is the callable actually served, so
    ``app.wsgi_app = ProxyFix(app.wsgi_app)`` works as in Flask.
    """

    request_class: type[Request] = Request

    #: Re-raise an unhandled exception out of the app once its 500 response has
    #: passed every ``process_response``, so a debugger (``lback-mw run --debug``)
    #: can show it. Never on in production: the server then answers the error itself.
    propagate_exceptions: bool = False

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.router = Router()
        self.dependencies = Dependencies()
        self.errors = ErrorResponder(debug=settings.DEBUG)
        #: The ``MIDDLEWARES`` entries in effect, outermost first.
        self.configured_middleware: list[Layer] = []
        #: Entries that raised ``MiddlewareNotUsed``.
        self.skipped_middleware: list[SkippedLayer] = []
        #: ``WSGI_MIDDLEWARES`` entries, outermost first.
        self.wsgi_middleware: list[Layer] = []
        self._used: list[Layer] = []
        self._before_request: list[Layer] = []
        self._after_request: list[Layer] = []
        #: Each route's own middleware, built once, and what it switches off, by
        #: ``id(rule)`` (werkzeug rules are unhashable); see :meth:`route_layers`.
        self.route_middleware: dict[int, RouteLayers] = {}
        self._hook_wrappers: list[HookWrapper] = []
        self._serving = False
        self._dispatcher = Dispatcher(self.router, [], self.route_middleware, self.errors)
        self._handler = self._dispatcher.dispatch
        self.router.on_add = self._route_added
        self.wsgi_app: WSGIApplication = self._core_wsgi
        self._register_builtin_dependencies()
        self._rebuild()

    # -- serving -------------------------------------------------------------

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        return self.wsgi_app(environ, start_response)

    def _core_wsgi(
        self, environ: WSGIEnvironment, start_response: StartResponse
    ) -> Iterable[bytes]:
        self._serving = True
        # PERF: populate_request=False keeps werkzeug from storing the request in
        # the environ, a reference cycle that only the garbage collector frees.
        request = self.request_class(environ, populate_request=False)
        request.app = self
        response = self._handler(request)
        if self.propagate_exceptions:
            unhandled = getattr(response, "unhandled_exception", None)
            if unhandled is not None:
                raise unhandled
        return response(environ, start_response)

    @property
    def chain(self) -> list[Layer]:
        """Every layer a request passes, outermost first, as the pipeline runs them."""
        return [
            *self.configured_middleware,
            *self._used,
            *self._after_request,
            *self._before_request,
        ]

    def _rebuild(self) -> None:
        """Compile every route's chain; done at start-up and after each registration."""
        chain = self.chain
        for rule in self.router.rules():
            self._load_route(rule, chain)
        self._dispatcher = Dispatcher(
            self.router, chain, self.route_middleware, self.errors, self._hook_wrappers
        )
        self._handler = self._dispatcher.dispatch

    def _route_added(self, rule: Rule) -> None:
        # Built and compiled at registration, so its errors surface there.
        self._load_route(rule, self.chain)
        self._dispatcher.add(rule)

    def _load_route(self, rule: Rule, chain: list[Layer]) -> None:
        spec = self.router.middleware_for(rule)
        if spec is None:
            return
        built = self.route_middleware.get(id(rule))
        if built is None:
            built = load_route_middleware(spec, self.dependencies)
        built.excluded = resolve_exclusions(spec, chain)
        self.route_middleware[id(rule)] = built

    def route_layers(self, rule: Rule) -> RouteLayers | None:
        """The route's own middleware and exclusions, ``None`` if it has neither."""
        return self.route_middleware.get(id(rule))

    # -- registration ----------------------------------------------------------

    @_setup_method
    def route(
        self,
        rule: str,
        methods: Iterable[str] | None = None,
        endpoint: str | None = None,
        *,
        middleware: Sequence[Any] = (),
        exclude_middleware: Sequence[Any] = (),
        **options: Any,
    ) -> Callable[[View], View]:
        """Register a view: ``@app.route("/users/<int:id>", methods=["GET"])``.

        :param middleware: the route's own middleware, in any ``MIDDLEWARES``
            form, built now; it runs inside the global chain.
        :param exclude_middleware: global middleware (dotted paths or classes)
            switched off for this route.
        """

        def register(view: View) -> View:
            self.router.add(
                rule,
                view,
                methods,
                endpoint,
                middleware=middleware,
                exclude_middleware=exclude_middleware,
                **options,
            )
            return view

        return register

    @_setup_method
    def use(self, middleware: Any, /, **params: Any) -> None:
        """Add a middleware inside the ``MIDDLEWARES`` chain, after earlier ``use`` calls.

        ``middleware`` is a ``(request, call_next)`` function, an instance with
        hooks or ``dispatch``, or a class, which is built like a ``MIDDLEWARES``
        entry with ``params``.
        """
        label = f"app.use[{len(self._used)}]"
        path = dotted_name(middleware)
        where = f"{label} ({path!r})"
        if isinstance(middleware, type):
            style, hooks = classify(middleware, where)
            layer = instantiate(middleware, params, self.dependencies, label, path, style, hooks)
        else:
            if params:
                raise TypeError(f"{where}: params are only accepted with a class.")
            if inspect.isroutine(middleware) or isinstance(middleware, functools.partial):
                check_call_next_signature(middleware, path, where)
                style, hooks = "call_next", ("__call__",)
            else:
                style, hooks = classify(type(middleware), where)
            layer = Layer(label, path, middleware, style, hooks)
        self._used.append(layer)
        self._rebuild()

    @_setup_method
    def instrument_hooks(self, wrapper: HookWrapper) -> None:
        """Run every middleware hook through ``wrapper(layer, hook_name, hook)``, which
        returns the callable to run in its place (a span or a timer around it).

        Applied when the chain is built, so a hook it leaves alone costs nothing
        per request; ``TracingMiddleware(layer_spans=True)`` uses it.
        """
        self._hook_wrappers.append(wrapper)
        self._rebuild()

    def middleware(self, function: F) -> F:
        """Decorator: add a ``(request, call_next)`` function middleware (see :meth:`use`)."""
        self.use(function)
        return function

    @_setup_method
    def before_request(self, function: F) -> F:
        """Run ``function(request)`` before the view; a response it returns short-circuits."""
        label = f"before_request[{len(self._before_request)}]"
        self._before_request.append(_function_layer(label, function, "process_request"))
        self._rebuild()
        return function

    @_setup_method
    def after_request(self, function: F) -> F:
        """Run ``function(response)`` after the view; it returns the response to send.

        After-request functions run for every response, in reverse order of
        registration, like Flask's.
        """
        label = f"after_request[{len(self._after_request)}]"
        self._after_request.append(_function_layer(label, function, "process_response"))
        self._rebuild()
        return function

    @_setup_method
    def errorhandler(self, key: type[Exception] | int) -> Callable[[F], F]:
        """Decorator: ``handler(request, exc)`` answers for an exception class or status code."""

        def register(handler: F) -> F:
            refuse_async(handler, f"errorhandler({key!r})", dotted_name(handler), "error handlers")
            self.errors.handlers[key] = handler
            return handler

        return register

    @_setup_method
    def provide(
        self, name: str, value: Any = MISSING, *, factory: Callable[..., Any] | None = None
    ) -> None:
        """Register a dependency: a value, or ``factory=`` to build it on first use."""
        self.dependencies.provide(name, value, factory=factory)

    def url_for(self, endpoint: str, /, **values: Any) -> str:
        """The path for ``endpoint``; use ``request.url_for`` for host-aware URLs."""
        return self.router.url_for(endpoint, **values)

    def test_client(self, *, lint: bool = True) -> Client:
        """A :class:`lback_mw.testing.Client`; requests are checked by werkzeug's linter."""
        # PERF: imported by the first test client, not by every app that serves:
        # the client and werkzeug's linter are about 0.5 ms of each start-up.
        from ._client import Client

        return Client(self, lint=lint)

    def close(self) -> None:
        """Release what middleware and dependencies hold: each middleware's own
        ``close()`` (a session or rate-limit store's connections), then the
        database engine's connections."""
        route_layers = [layer for built in self.route_middleware.values() for layer in built.layers]
        for layer in [*self.chain, *route_layers]:
            close = getattr(layer.instance, "close", None)
            if callable(close):
                close()
        factory = self.dependencies.values().get("db_session")
        if factory is None:
            return  # never asked for: SQLAlchemy need not even be imported
        from sqlalchemy.engine import Engine

        # A project may provide its own factory (a scoped_session, a plain
        # function): only a sessionmaker's engine is known to be disposable.
        bind = getattr(factory, "kw", {}).get("bind")
        if isinstance(bind, Engine):
            bind.dispose()

    # -- start-up --------------------------------------------------------------

    def _register_builtin_dependencies(self) -> None:
        settings = self.settings
        provide = self.dependencies.provide
        provide("config", settings)
        provide("settings", settings)
        provide("router", self.router)
        provide("app", self)
        provide("db_session", factory=functools.partial(_db_session, settings))
        template_dirs = [settings.BASE_DIR / Path(d) for d in settings.TEMPLATE_DIRS]
        provide("template_renderer", factory=functools.partial(_template_renderer, template_dirs))
        self.dependencies.provide_per_owner("logger", logger_for)


# PERF: SQLAlchemy and Jinja2 are imported by the first use of their dependency,
# not with the app: together they were 0.3 s and 20 MB of every cold start
# (``python -X importtime``), paid even by projects that use neither.
def _db_session(settings: Settings) -> sessionmaker[Session]:
    from .database import database_url, session_factory

    return session_factory(database_url(settings.DATABASE_URL, settings.BASE_DIR))


def _template_renderer(template_dirs: list[Path]) -> TemplateRenderer:
    from .templating import TemplateRenderer

    return TemplateRenderer(template_dirs)


class _FunctionHook:
    """Adapts a before/after-request function to the hook protocol."""

    __slots__ = ("process_request", "process_response")

    def __init__(self, function: Callable[..., Any], hook: str) -> None:
        if hook == "process_request":
            self.process_request = function
        else:
            self.process_response = lambda request, response: function(response)


def _function_layer(label: str, function: Callable[..., Any], hook: str) -> Layer:
    refuse_async(function, label, dotted_name(function))
    return Layer(label, dotted_name(function), _FunctionHook(function, hook), "hooks", (hook,))


def create_app(settings: Any = None, *, dependencies: Mapping[str, Any] | None = None) -> App:
    """Build the app: load settings, then import, validate and build every middleware.

    :param settings: a dotted module path, a ``.yaml``/``.yml`` path, a module, a
        dict or a :class:`Settings`; ``None`` reads ``LBACK_SETTINGS``.
    :param dependencies: extra injectable values by name, available to the
        middleware constructors (``DEPENDENCIES`` in settings does the same from
        dotted paths).
    :raises ImproperlyConfigured: for any bad setting or middleware entry.
    """
    loaded = load_settings(settings)
    # First, so that what the middleware constructors log is already configured.
    configure_logging(loaded)
    app = App(loaded)
    conf = app.settings
    for name, path in conf.DEPENDENCIES.items():
        target = import_object(path, f"DEPENDENCIES[{name!r}] ({path!r})")
        if callable(target):  # a function or class is a factory, built on first use
            app.dependencies.provide(name, factory=target)
        else:
            app.dependencies.provide(name, target)
    for name, value in (dependencies or {}).items():
        app.dependencies.provide(name, value)
    if conf.TEMPLATE_DIRS:
        app.dependencies.resolve("template_renderer")  # a missing directory fails now
    app.configured_middleware, app.skipped_middleware = load_middlewares(
        conf.MIDDLEWARES, app.dependencies
    )
    if conf.ROUTES:  # after MIDDLEWARES: a route's exclude_middleware names them
        app.router.add_routes(_load_routes(conf.ROUTES), "ROUTES")
    app.wsgi_app, app.wsgi_middleware = wrap_wsgi_middlewares(
        conf.WSGI_MIDDLEWARES, app.dependencies, app._core_wsgi
    )
    app._rebuild()
    logging.getLogger("lback_mw.app").debug(
        "App built with %d middleware: %s",
        len(app.configured_middleware),
        ", ".join(layer.path for layer in app.configured_middleware),
    )
    return app


def _load_routes(dotted: str) -> list[Route]:
    module = import_object(dotted, f"ROUTES ({dotted!r})")
    routes = getattr(module, "routes", None)
    if not isinstance(routes, list | tuple):
        raise ImproperlyConfigured(
            f"ROUTES ({dotted!r}): the module must define a list named 'routes' of "
            f"lback_mw.Route(...) entries; found {type(routes).__name__}."
        )
    for index, route in enumerate(routes):
        if not isinstance(route, Route):
            raise ImproperlyConfigured(
                f"ROUTES ({dotted!r}): routes[{index}] is {route!r}, not a lback_mw.Route."
            )
    return list(routes)

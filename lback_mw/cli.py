"""The ``lback-mw`` command line: run, serve, check, middleware, routes.

Modelled on Flask's ``cli.py``: one click group, one ``*_command`` function per
command, and :func:`main` for the console script and ``python -m lback_mw``.
Every command builds the app with :func:`~lback_mw.create_app`, so a command
that starts is a command whose settings and middleware all loaded.
"""

from __future__ import annotations

import importlib.util
import inspect
import json
import os
import re
import shutil
import sys
import textwrap
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click
from click.core import ParameterSource
from werkzeug.routing import Rule
from werkzeug.serving import is_running_from_reloader, run_simple

from ._multiprocess import MULTIPROC_ENV_VAR, check_multiprocess_dir
from ._redact import redact_url
from .app import App, create_app
from .app_target import APP_ENV_VAR, forget_target_modules, load_app_target
from .checks import check_app, silence
from .deploy_checks import check_deploy, check_shared_state
from .devserver import DevRequestHandler, QuietDevRequestHandler, RememberResponse
from .dispatch import explain
from .exceptions import ImproperlyConfigured, dotted_name
from .exceptions import count as _count
from .layers import Layer
from .log_config import install_default_logging
from .settings import (
    ENV_FILE_ENV_VAR,
    ENV_PREFIX,
    SETTINGS_ENV_VAR,
    YAML_SUFFIXES,
    Settings,
    load_settings,
)

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")

#: Parameter names whose values ``lback-mw middleware`` hides (after Django's
#: ``SafeExceptionReporterFilter``): the output ends up in terminals, CI logs, tickets.
#: A bare ``key`` (what to key a rate limit by) and flags such as
#: ``allow_credentials=True`` are not secrets: only text values are hidden.
_SECRET_PARAM = re.compile(
    r"secret|passw|token|credential|signature|api_?key|private|_keys?$", re.IGNORECASE
)
_HIDDEN = "********"
#: Longest parameter value shown in a table cell; ``--json`` has them in full.
_MAX_VALUE_WIDTH = 40


class SettingsError(click.ClickException):
    """Bad settings: click prints ``Error: <message>`` to stderr and exits 1.

    An :class:`~lback_mw.ImproperlyConfigured` message already names the culprit
    and the fix; a traceback would only bury it.
    """


class ScriptInfo:
    """Where the app comes from, shared by the group and its commands."""

    def __init__(self) -> None:
        #: ``--settings`` as given (the command's wins over the group's); ``None``
        #: means :func:`~lback_mw.create_app` reads ``LBACK_SETTINGS``.
        self.settings: str | None = None
        #: ``--app`` as given; ``None`` means ``LBACK_APP``, else the settings alone.
        self.app_target: str | None = None

    def target(self) -> str | None:
        """The app target in effect (``myproject.wsgi:app``), if any."""
        return self.app_target or os.environ.get(APP_ENV_VAR) or None

    def source(self) -> str | None:
        """The settings source in effect, with a file path made absolute."""
        source = self.settings or os.environ.get(SETTINGS_ENV_VAR) or None
        if source is not None and os.path.isfile(source):
            return os.path.abspath(source)
        return source

    def settings_file(self) -> str | None:
        """The settings file, if the source is one, for the reloader to watch."""
        source = self.source()
        if (
            source is not None
            and source.lower().endswith((*YAML_SUFFIXES, ".py"))
            and (os.path.isfile(source))
        ):
            return source
        return None

    def watched_files(self) -> list[str]:
        """What ``run``'s reloader watches besides Python modules: the settings file
        and the ``.env`` file (``--env-file``, else ``.env`` beside the settings)."""
        settings_file = self.settings_file()
        env_file = os.environ.get(ENV_FILE_ENV_VAR)
        if not env_file:
            directory = os.path.dirname(settings_file) if settings_file else self._module_dir()
            env_file = os.path.join(directory, ".env") if directory else None
        return [path for path in (settings_file, env_file) if path and os.path.isfile(path)]

    def _module_dir(self) -> str | None:
        source = self.source()
        try:
            spec = importlib.util.find_spec(source) if source else None
        except (ImportError, ValueError):  # the build reports it, with the reason
            return None
        return os.path.dirname(spec.origin) if spec is not None and spec.origin else None

    def load_app(self) -> App:
        """Build the app (from ``--app``/``LBACK_APP`` if given, else from the settings),
        turning a configuration error into a clean exit 1."""
        return self._load(create_app if self.target() is None else self._app_from_target)

    def _app_from_target(self, settings: str | None) -> App:
        source = self.source()
        if source is not None:
            # The target's own create_app() reads it, as a worker's would.
            os.environ[SETTINGS_ENV_VAR] = source
        target = self.target()
        assert target is not None  # load_app() chose this path for that reason
        return load_app_target(target)

    def load_settings(self) -> Settings:
        """Read the settings only (no middleware is built), with the same clean exit 1."""
        return self._load(load_settings)

    def _load(self, build: Callable[[str | None], T]) -> T:
        # Flask does the same: the console script's sys.path[0] is its bin
        # directory, so 'myproject.settings' would not import from the project root.
        cwd = os.getcwd()
        if cwd not in sys.path and "" not in sys.path:
            sys.path.insert(0, cwd)
        try:
            return build(self.settings)
        except ImproperlyConfigured as exc:
            raise SettingsError(str(exc)) from None


pass_info = click.make_pass_decorator(ScriptInfo, ensure=True)


def _remember_settings(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    if value is not None:
        ctx.ensure_object(ScriptInfo).settings = value


def _use_env_file(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    if value is not None:
        # Through the environment, so that serve's workers read the same file.
        os.environ[ENV_FILE_ENV_VAR] = os.path.abspath(value)


def _remember_app(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    if value is not None:
        ctx.ensure_object(ScriptInfo).app_target = value


def settings_option(function: F) -> F:
    """``--settings``, ``--app`` and ``--env-file``, accepted by the group and by every
    command (the command's wins)."""
    function = click.option(
        "--env-file",
        metavar="PATH",
        expose_value=False,
        callback=_use_env_file,
        type=click.Path(exists=True, dir_okay=False),
        help=f"A dotenv file of {ENV_PREFIX}<NAME>=value lines, below the environment and "
        "above the settings file. Default: .env beside the settings, if there is one.",
    )(function)
    function = click.option(
        "--app",
        metavar="MODULE:NAME",
        expose_value=False,
        callback=_remember_app,
        help=f"The app built in code: an App, or a factory returning one, e.g. "
        f"myproject.wsgi:app. Default: the {APP_ENV_VAR} environment variable; without "
        "either, the app is built from the settings.",
    )(function)
    return click.option(
        "--settings",
        metavar="SOURCE",
        expose_value=False,
        callback=_remember_settings,
        help=f"Settings: a dotted module path (myproject.settings), a .py file or a "
        f".yaml/.yml file. Default: the {SETTINGS_ENV_VAR} environment variable.",
    )(function)


def workers_option(help_text: str) -> Callable[[F], F]:
    """``--workers``: the gunicorn workers ``serve`` starts, and those ``check --deploy``
    judges shared state for. One definition, so that check assumes serve's default."""
    return click.option(
        "--workers",
        "-w",
        default=2,
        show_default=True,
        type=click.IntRange(min=1),
        help=help_text,
    )


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@settings_option
@click.version_option(package_name="lback_mw")
def cli() -> None:
    """Run and inspect a lback_mw app.

    Settings come from --settings (before or after the command name) or from
    the LBACK_SETTINGS environment variable; an app whose routes are registered
    in code from --app (or LBACK_APP). The current directory is importable, so
    run it from the project root:

    \b
        lback-mw --settings myproject.settings check
        lback-mw --app myproject.wsgi:app routes
    """


@click.command("run", short_help="Run the development server.")
@settings_option
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Interface to listen on; 0.0.0.0 exposes the server to your network.",
)
@click.option(
    "--port",
    default=8000,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="Port to listen on.",
)
@click.option(
    "--reload/--no-reload",
    default=True,
    show_default=True,
    help="Restart when a Python file, the settings file or the .env file changes.",
)
@click.option(
    "--debug",
    is_flag=True,
    help="Turn on werkzeug's interactive debugger (PIN-protected, but it runs "
    "code: keep it on localhost).",
)
@pass_info
def run_command(info: ScriptInfo, host: str, port: int, reload: bool, debug: bool) -> None:
    """Run the werkzeug development server; never use it in production (see serve)."""
    app: WSGIApplication
    try:
        app = info.load_app()
    except SettingsError as exc:
        if not is_running_from_reloader():
            raise
        # A typo saved while the server runs: keep the reloader alive so the next
        # save brings the app back, and say what is wrong on every request.
        click.echo(f"Error: {exc.message}", err=True)
        app = _broken_app(exc.message)
    request_handler: type[DevRequestHandler] = DevRequestHandler
    if isinstance(app, App):
        # Let werkzeug's debugger see view errors instead of the 500 page.
        app.propagate_exceptions = debug
        if _has_access_log(app):
            request_handler = QuietDevRequestHandler
        install_default_logging(app.settings)
    watched = info.watched_files()
    run_simple(
        host,
        port,
        RememberResponse(app),
        use_reloader=reload,
        use_debugger=debug,
        use_evalex=debug,
        threaded=True,
        extra_files=watched or None,
        request_handler=request_handler,
    )


def _has_access_log(app: App) -> bool:
    return any(
        getattr(layer.instance, "ordering_role", None) == "access_log" for layer in app.chain
    )


def _broken_app(message: str) -> WSGIApplication:
    body = (
        f"lback_mw could not build the app:\n\n{message}\n\n"
        "Fix the settings and save; the development server reloads.\n"
    ).encode()

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        start_response(
            "500 Internal Server Error",
            [
                ("Content-Type", "text/plain; charset=utf-8"),
                ("Content-Length", str(len(body))),
            ],
        )
        return [body]

    return app


@click.command("serve", short_help="Serve with gunicorn (production, several workers).")
@settings_option
@workers_option("Worker processes; each builds its own app from the settings.")
@click.option(
    "--bind",
    "-b",
    multiple=True,
    default=["127.0.0.1:8000"],
    show_default=True,
    help="HOST:PORT or unix:PATH to listen on; repeat for several.",
)
@click.option(
    "--timeout",
    "-t",
    default=30,
    show_default=True,
    type=click.IntRange(min=0),
    help="Seconds a request may take before its worker is killed and replaced; 0 means never.",
)
@click.option(
    "--config",
    "-c",
    "config_file",
    type=click.Path(exists=True, dir_okay=False),
    help="A gunicorn configuration file (gunicorn.conf.py). It overrides the defaults "
    "of the options above, and options given here override it.",
)
@click.argument("gunicorn_args", nargs=-1, type=click.UNPROCESSED, metavar="[-- GUNICORN_ARGS]...")
@click.pass_context
@pass_info
def serve_command(
    info: ScriptInfo,
    ctx: click.Context,
    workers: int,
    bind: Sequence[str],
    timeout: int,
    config_file: str | None,
    gunicorn_args: Sequence[str],
) -> None:
    """Serve the app with gunicorn: one master process and --workers worker processes.

    Anything after -- goes to gunicorn as on its own command line, e.g.
    lback-mw serve -- --keep-alive 5 --access-logfile -. Put it behind a reverse
    proxy (nginx) when it faces the internet.
    """
    chosen = {"bind": list(bind), "workers": workers, "timeout": timeout}
    # Precedence, as gunicorn's own: our defaults < the config file < our options
    # given explicitly < the flags after --.
    explicit = {
        name: value
        for name, value in chosen.items()
        if ctx.get_parameter_source(name) is not ParameterSource.DEFAULT
    }
    defaults: dict[str, Any] = {**chosen, "proc_name": "lback-mw"}
    multiproc_dir = os.environ.get(MULTIPROC_ENV_VAR)
    if multiproc_dir:
        defaults["child_exit"] = _mark_metrics_process_dead
    application = _gunicorn_application(defaults, config_file, explicit, list(gunicorn_args))
    if multiproc_dir:
        try:
            # Room for every worker and the master, checked before any is forked.
            check_multiprocess_dir(
                multiproc_dir, application.cfg.workers + 1, owner="lback-mw serve"
            )
        except ImproperlyConfigured as exc:
            raise SettingsError(str(exc)) from None
    target = info.target()
    modules_before = set(sys.modules)
    # Build once here so a bad setting is one clear error and exit 1, instead of
    # every worker failing to boot. This app is then dropped: see load() below.
    app = info.load_app()
    try:
        found = check_shared_state(app, application.cfg.workers)
        for message in silence(found, app.settings.SILENCED_CHECKS):
            click.echo(f"WARNING {message}", err=True)
    except ImproperlyConfigured as exc:
        raise SettingsError(str(exc)) from None
    finally:
        app.close()
    source = info.source()
    if source is not None:
        os.environ[SETTINGS_ENV_VAR] = source
    if target is not None:
        os.environ[APP_ENV_VAR] = target
        forget_target_modules(target, modules_before)
    application.run()


def _mark_metrics_process_dead(server: Any, worker: Any) -> None:
    """gunicorn's ``child_exit`` hook in Prometheus multiprocess mode.

    A dead worker's live gauges (requests in progress) must stop counting, as
    prometheus-client's docs require; its counters and histograms stay summed.
    """
    from prometheus_client import multiprocess  # here: only in multiprocess mode

    multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]


def _gunicorn_application(
    defaults: dict[str, Any],
    config_file: str | None,
    explicit: dict[str, Any],
    gunicorn_args: list[str],
) -> Any:
    """A gunicorn application configured from our options, a config file and
    gunicorn's own flags, in gunicorn's order of precedence."""
    try:
        from gunicorn.app.base import Application as GunicornApplication
    except ImportError:
        raise click.ClickException(
            "'lback-mw serve' runs gunicorn, which is not installed. Install it with: "
            "pip install 'lback_mw[server]'  (or use 'lback-mw run' for development)."
        ) from None

    class Application(GunicornApplication):  # type: ignore[misc]  # gunicorn ships no types
        def init(self, parser: Any, opts: Any, args: Any) -> None:
            return None

        def load_config(self) -> None:
            # gunicorn's argparse parser: its flags mean here what they mean there,
            # and a mistake gets gunicorn's own usage message.
            args = self.cfg.parser().parse_args(gunicorn_args)
            if args.args:
                raise click.UsageError(
                    f"'lback-mw serve' loads the app itself; drop {' '.join(args.args)!r} "
                    "after --, and name an app built in code with --app MODULE:NAME."
                )
            for key, value in defaults.items():
                self.cfg.set(key, value)
            if config_file or args.config:
                self.load_config_from_file(config_file or args.config)
            for key, value in explicit.items():
                self.cfg.set(key, value)
            for key, value in vars(args).items():
                if value is not None and key not in ("args", "config"):
                    self.cfg.set(key, value)

        def load(self) -> App:
            # Called in each worker after the fork (no preload): each worker builds
            # its own app from LBACK_APP or LBACK_SETTINGS, so what middleware
            # constructors open (Redis clients, database engines, threads) is never
            # shared between processes. Start-up errors were caught by the master.
            target = os.environ.get(APP_ENV_VAR)
            app = load_app_target(target) if target else create_app()
            install_default_logging(app.settings)
            return app

    return Application()


@click.command("check", short_help="Validate the settings and every middleware.")
@settings_option
@click.option(
    "--deploy",
    is_flag=True,
    help="Add the production checks: DEBUG, SECRET_KEY, hosts, https, cookies, "
    "memory backends, /metrics, the access log.",
)
@workers_option("With --deploy: the workers you will serve with (the default is serve's).")
@click.option(
    "--fail-level",
    type=click.Choice(["error", "warning"]),
    default="error",
    show_default=True,
    help="Exit with status 1 on findings of this level or worse (warning: for CI).",
)
@click.option("--fail-on-warning", is_flag=True, help="The same as --fail-level warning.")
@pass_info
def check_command(
    info: ScriptInfo, deploy: bool, workers: int, fail_level: str, fail_on_warning: bool
) -> None:
    """Build the app, then report risky middleware orders and settings, each with
    its id (lback.W001...); SILENCED_CHECKS in the settings lists ids to skip.

    Exits 1 if the settings do not load or on an error (lback.E...), and on
    warnings too with --fail-level warning.
    """
    app = info.load_app()
    try:
        found = check_app(app) + (check_deploy(app, workers=workers) if deploy else [])
        messages = silence(found, app.settings.SILENCED_CHECKS)
    except ImproperlyConfigured as exc:
        raise SettingsError(str(exc)) from None
    finally:
        app.close()
    for message in messages:
        click.echo(f"{message.level.upper()} {message}")
    errors = sum(message.level == "error" for message in messages)
    warnings = len(messages) - errors
    counts = [
        _count(len(app.chain), "middleware", "middleware"),
        _count(len(app.wsgi_middleware), "WSGI wrapper"),
        _count(len(app.skipped_middleware), "skipped entry", "skipped entries"),
        _count(len(app.router.rules()), "route"),
    ]
    found_counts = [_count(errors, "error")] if errors else []
    found_counts += [_count(warnings, "warning")] if warnings else []
    silenced = len(found) - len(messages)
    verdict = ", ".join(found_counts) or "no warnings"
    if silenced:
        verdict += f" ({silenced} silenced)"
    click.echo(f"Settings loaded: {', '.join(counts)}; {verdict}.")
    if errors or (warnings and (fail_on_warning or fail_level == "warning")):
        raise click.exceptions.Exit(1)


@click.command("middleware", short_help="Show the resolved middleware chain.")
@settings_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables.")
@click.option(
    "--path",
    metavar="PATH",
    help="Show the chain one request gets: each layer kept or skipped, and why, then "
    "the route's own middleware and the view.",
)
@click.option("--method", default="GET", show_default=True, help="The request method, with --path.")
@pass_info
def middleware_command(info: ScriptInfo, as_json: bool, path: str | None, method: str) -> None:
    """Show each layer of the chain, outermost first: where it was configured, its
    class, params, injected dependencies, hooks, and when it runs.

    "request" is the order in which process_request (or dispatch) runs on the way
    in; "response" the order of process_response (or dispatch) on the way out.
    WSGI wrappers run outside the whole chain. With --path, the effective chain of
    that request instead.
    """
    app = info.load_app()
    if path is not None:
        _echo_effective_chain(app, path, method, as_json)
        return
    report = describe_middleware(app)
    if as_json:
        click.echo(json.dumps(report, indent=2, default=repr))
        return
    if report["chain"]:
        click.echo("Middleware chain, outermost first:")
        rows = [
            [
                str(entry["position"]),
                entry["label"],
                entry["class"],
                _params_cell(entry["params"], entry["overridden"]),
                ", ".join(entry["injected"]) or "-",
                ", ".join(entry["hooks"]) or "-",
                _order_cell(entry["request_order"]),
                _order_cell(entry["response_order"]),
            ]
            for entry in report["chain"]
        ]
        _echo_table(
            ["#", "label", "class", "params", "injected", "hooks", "request", "response"],
            rows,
            title_columns=3,
        )
    else:
        click.echo("No middleware: requests go straight to the router.")
    if report["wsgi_middleware"]:
        click.echo("\nWSGI wrappers, outermost first, around the whole chain:")
        _echo_table(
            ["label", "class", "params", "injected"],
            [
                [
                    entry["label"],
                    entry["class"],
                    _params_cell(entry["params"], entry["overridden"]),
                    ", ".join(entry["injected"]) or "-",
                ]
                for entry in report["wsgi_middleware"]
            ],
        )
    if report["skipped"]:
        click.echo("\nSkipped at start-up (raised MiddlewareNotUsed):")
        _echo_table(
            ["label", "class", "reason"],
            [[entry["label"], entry["class"], entry["reason"]] for entry in report["skipped"]],
        )


def _echo_effective_chain(app: App, path: str, method: str, as_json: bool) -> None:
    if not path.startswith("/"):
        raise click.BadParameter(f"{path!r} is not a path; write it as '/api/notes'.")
    report = explain(app.router, app.chain, app.route_middleware, path, method)
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    target = f"{report['method']} {report['path']}"
    if report["rule"] is None:
        click.echo(
            f"{target}: no route matches ({report['routing']}); no process_view runs, "
            "and the error response passes the layers below."
        )
    else:
        click.echo(f"{target} -> route {report['rule']!r} (endpoint {report['endpoint']!r})")
    if report["chain"]:
        click.echo("\nGlobal middleware, outermost first:")
        _echo_table(
            ["label", "class", "runs", "reason"],
            [
                [entry["label"], entry["class"], "yes" if entry["runs"] else "no", entry["reason"]]
                for entry in report["chain"]
            ],
        )
    if report["route_middleware"] or report["route_skipped"]:
        click.echo("\nThe route's own middleware, inside the global chain:")
        _echo_table(
            ["label", "class", "hooks"],
            [
                [entry["label"], entry["class"], ", ".join(entry["hooks"])]
                for entry in report["route_middleware"]
            ]
            + [
                [entry["label"], entry["class"], f"skipped: {entry['reason']}"]
                for entry in report["route_skipped"]
            ],
        )
    if report["view"] is not None:
        click.echo(f"\nView: {report['view']}")


def describe_middleware(app: App) -> dict[str, list[dict[str, Any]]]:
    """What ``lback-mw middleware`` shows, as plain data (the ``--json`` output)."""
    chain = app.chain
    request_order = _run_order(chain, "process_request")
    response_order = _run_order(chain[::-1], "process_response")
    return {
        "chain": [
            {
                "position": position,
                **_layer_data(layer),
                "style": layer.style,
                "hooks": list(layer.hooks),
                "request_order": request_order.get(id(layer)),
                "response_order": response_order.get(id(layer)),
                **_scope_data(layer),
            }
            for position, layer in enumerate(chain)
        ],
        "wsgi_middleware": [_layer_data(layer) for layer in app.wsgi_middleware],
        "skipped": [
            {"label": skipped.label, "class": skipped.path, "reason": skipped.reason}
            for skipped in app.skipped_middleware
        ],
    }


def _run_order(layers: Sequence[Layer], hook: str) -> dict[int, int]:
    """1-based turn of each layer that takes part in ``hook``, keyed by ``id(layer)``."""
    taking_part = [
        layer for layer in layers if layer.style in ("call_next", "django") or hook in layer.hooks
    ]
    return {id(layer): turn for turn, layer in enumerate(taking_part, 1)}


def _layer_data(layer: Layer) -> dict[str, Any]:
    return {
        "label": layer.label,
        "class": layer.path,
        "params": {name: _safe_value(name, value) for name, value in layer.params.items()},
        "overridden": list(layer.overridden),
        "injected": list(layer.injected),
    }


def _scope_data(layer: Layer) -> dict[str, list[str] | None]:
    scope = layer.scope
    return {
        "paths": None if scope is None or scope.paths is None else scope.paths.texts(),
        "exclude_paths": None if scope is None or scope.exclude is None else scope.exclude.texts(),
    }


def _safe_value(name: str, value: Any) -> Any:
    if _SECRET_PARAM.search(name) and not isinstance(value, bool | int | float | None):
        return _HIDDEN
    if isinstance(value, str) and "://" in value:
        return redact_url(value, _HIDDEN)
    if isinstance(value, type) or inspect.isfunction(value):
        # What a dotted path in params imported, shown as such a path (not its repr).
        return dotted_name(value)
    return value


def _params_cell(params: dict[str, Any], overridden: list[str]) -> str:
    cells = []
    for name, value in params.items():
        shown = repr(value)
        if len(shown) > _MAX_VALUE_WIDTH:
            shown = shown[: _MAX_VALUE_WIDTH - 3] + "..."
        note = " (overrides dependency)" if name in overridden else ""
        cells.append(f"{name}={shown}{note}")
    return ", ".join(cells) or "-"


def _order_cell(order: int | None) -> str:
    return "-" if order is None else str(order)


@click.command("routes", short_help="Show the routes of the app.")
@settings_option
@click.option("--all-methods", is_flag=True, help="Show HEAD and OPTIONS too.")
@pass_info
def routes_command(info: ScriptInfo, all_methods: bool) -> None:
    """Show each URL rule, its endpoint, methods and view, in matching order."""
    app = info.load_app()
    rules = app.router.rules()
    if not rules:
        click.echo("No routes were registered.")
        return
    hidden = set() if all_methods else {"HEAD", "OPTIONS"}
    rows = [
        [
            rule.rule,
            rule.endpoint,
            ", ".join(sorted((rule.methods or set()) - hidden)),
            dotted_name(app.router.view_for(rule.endpoint)),
            *_route_middleware_cells(app, rule),
        ]
        for rule in rules
    ]
    headers = ["rule", "endpoint", "methods", "view", "middleware", "excludes"]
    if not app.route_middleware:  # the two columns only where some route has them
        headers, rows = headers[:4], [row[:4] for row in rows]
    _echo_table(headers, rows)


def _route_middleware_cells(app: App, rule: Rule) -> list[str]:
    built = app.route_layers(rule)
    if built is None:
        return ["-", "-"]
    own = [layer.path for layer in built.layers]
    own += [f"{skipped.path} (skipped)" for skipped in built.skipped]
    excluded = [layer.path for layer in app.chain if id(layer) in built.excluded]
    return [", ".join(own) or "-", ", ".join(excluded) or "-"]


def _echo_table(
    headers: Sequence[str], rows: Sequence[Sequence[str]], *, title_columns: int = 1
) -> None:
    """Rows as a table when it fits the terminal (``COLUMNS``, else 80), or else one
    block per row: its first ``title_columns`` cells on a line, then one wrapped
    ``name: value`` line per other column, so nothing is wider than the terminal."""
    width = shutil.get_terminal_size((80, 24)).columns
    widths = [max(len(row[column]) for row in (headers, *rows)) for column in range(len(headers))]
    if sum(widths) + 2 * (len(widths) - 1) <= width:
        for row in (headers, ["-" * width for width in widths], *rows):
            click.echo(
                "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
            )
        return
    names = headers[title_columns:]
    indent = " " * (max(len(name) for name in names) + 4)
    for number, row in enumerate(rows):
        if number:
            click.echo()
        click.echo(textwrap.fill("  ".join(row[:title_columns]), width))
        for name, cell in zip(names, row[title_columns:], strict=True):
            first = f"  {name}:".ljust(len(indent))
            click.echo(
                textwrap.fill(
                    cell,
                    width,
                    initial_indent=first,
                    subsequent_indent=indent,
                    break_on_hyphens=False,
                )
            )


@click.command("settings", short_help="Show the settings and where each one came from.")
@settings_option
@click.option(
    "--diff",
    is_flag=True,
    help="Only the settings that differ from the defaults (Django's diffsettings).",
)
@pass_info
def settings_command(info: ScriptInfo, diff: bool) -> None:
    """Print each setting as NAME = value, and where the value came from: an
    environment variable, the .env file, a secret file or the settings file.

    Secrets are masked: values read from SECRETS_DIR, settings named like a
    secret (SECRET_KEY, *_TOKEN, *PASSWORD*...) and passwords in URLs.
    """
    settings = info.load_settings()
    fields = type(settings).model_fields
    names = [*fields, *sorted(settings.model_extra or {})]
    for name in names:
        value = getattr(settings, name)
        field = fields.get(name)
        is_default = field is not None and value == field.get_default(call_default_factory=True)
        if diff and is_default:
            continue
        source = settings.source_of(name)
        if isinstance(value, Path):
            shown: Any = str(value)  # a path is no secret, SECRETS_DIR included
        elif source.startswith("secret file"):
            shown = _HIDDEN
        else:
            shown = _safe_value(name, value)
        click.echo(f"{name} = {shown!r}  # {source}")


cli.add_command(run_command)
cli.add_command(serve_command)
cli.add_command(check_command)
cli.add_command(middleware_command)
cli.add_command(routes_command)
cli.add_command(settings_command)


def main() -> None:
    """Entry point of the ``lback-mw`` console script and ``python -m lback_mw``."""
    cli.main()

"""What every built-in shares: the short import path, a role in the recommended
order, and a documentation page."""

from __future__ import annotations

import inspect
import logging
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import lback_mw.middlewares as builtins
from lback_mw import BaseMiddleware, ImproperlyConfigured, create_app
from lback_mw.checks import RECOMMENDED_ORDER, ROLE_NAMES
from lback_mw.middlewares import base

DOCS = Path(__file__).resolve().parents[2] / "docs" / "middlewares"
#: Old names kept working, each the very class of its new name.
ALIASES = {"GZipMiddleware": "CompressionMiddleware"}
CLASSES = sorted(
    name for name in builtins.BUILTINS if name.endswith("Middleware") and name not in ALIASES
)


def test_all_lists_every_builtin() -> None:
    assert builtins.__all__ == sorted(builtins.BUILTINS)
    assert set(CLASSES) <= set(dir(builtins))


@pytest.mark.parametrize("name", CLASSES)
def test_builtin_is_a_middleware_with_a_recommended_place(name: str) -> None:
    cls = getattr(builtins, name)
    assert issubclass(cls, BaseMiddleware)
    assert cls.__module__ == f"lback_mw.middlewares.{builtins.BUILTINS[name]}"
    assert cls.ordering_role in RECOMMENDED_ORDER
    assert cls.ordering_role in ROLE_NAMES


@pytest.mark.parametrize("name", CLASSES)
def test_builtin_parameters_are_keyword_only(name: str) -> None:
    # Settings pass params by name; a positional call would break on every reorder.
    parameters = list(inspect.signature(getattr(builtins, name).__init__).parameters.values())
    positional = [p.name for p in parameters[1:] if p.kind is not p.KEYWORD_ONLY]
    assert positional in ([], ["kwargs"]), f"{name}({', '.join(positional)}) positional"


@pytest.mark.parametrize("name", CLASSES)
def test_builtin_has_a_page_linked_from_the_overview(name: str) -> None:
    overview = (DOCS / "index.md").read_text(encoding="utf-8")
    row = re.search(rf"^\| `{name}` \| \[[^]]+\]\((?P<page>[\w-]+\.md)\)", overview, re.MULTILINE)
    assert row is not None, f"docs/middlewares/index.md has no row for {name}"
    page = (DOCS / row["page"]).read_text(encoding="utf-8")
    assert page.startswith(f"# {name}")


@pytest.mark.parametrize(("old", "new"), ALIASES.items())
def test_an_old_name_is_the_same_class(old: str, new: str) -> None:
    assert getattr(builtins, old) is getattr(builtins, new)
    assert old in builtins.__all__


#: One misconfiguration of each built-in (several where the message is built by a
#: module-level helper): what its constructor is called with, and the words after
#: the owner's name that the error must go on with.
MISCONFIGURED = [
    pytest.param("AccessLogMiddleware", {"level": "LOUD"}, ": parameter 'level'", id="access-log"),
    pytest.param("AuthenticationMiddleware", {}, " needs a user_loader", id="auth-no-loader"),
    pytest.param(
        "AuthenticationMiddleware",
        {"user_loader": len, "login_url": "login"},
        ": login_url",
        id="auth-login-url",
    ),
    pytest.param("CORSMiddleware", {}, ": no origin is allowed", id="cors-no-origin"),
    pytest.param(
        "CORSMiddleware",
        {"allow_origins": ["https://app.example/"]},
        ": allow_origins entry",
        id="cors-origin",
    ),
    pytest.param("CSRFMiddleware", {"field_name": ""}, ": field_name", id="csrf-field"),
    pytest.param(
        "CSRFMiddleware",
        {"trusted_origins": ["example.com"]},
        ": trusted origin",
        id="csrf-trusted-origin",
    ),
    pytest.param("CSRFMiddleware", {"cookie_name": "a b"}, ": cookie_name", id="csrf-cookie-name"),
    pytest.param("CompressionMiddleware", {"minimum_size": -1}, ": minimum_size", id="compression"),
    pytest.param(
        "CompressionMiddleware",
        {"content_types": ["*/*"]},
        ": content_types[0]",
        id="compression-types",
    ),
    pytest.param(
        "HTTPSRedirectMiddleware", {"exempt_paths": ["/api/"]}, ": exempt_paths", id="https"
    ),
    pytest.param("MetricsMiddleware", {"path": "metrics"}, ": parameter 'path'", id="metrics"),
    pytest.param("MetricsMiddleware", {"token": ""}, ": the scrape token", id="metrics-token"),
    pytest.param("RateLimitMiddleware", {}, ": no limit is configured", id="ratelimit"),
    pytest.param(
        "RateLimitMiddleware", {"limit": "lots"}, ": parameter 'limit'", id="ratelimit-limit"
    ),
    pytest.param(
        "RequestIDMiddleware", {"header_name": "a b"}, ": parameter 'header_name'", id="request-id"
    ),
    pytest.param(
        "SQLAlchemySessionMiddleware", {"db_session": 5}, ": db_session must", id="db-session"
    ),
    pytest.param(
        "SecurityHeadersMiddleware", {"x_frame_options": ""}, ": x_frame_options", id="security"
    ),
    pytest.param("SecurityHeadersMiddleware", {"hsts": -1}, ": hsts=-1", id="security-hsts"),
    pytest.param(
        "SessionMiddleware", {"cookie_name": "a b"}, ": cookie_name", id="session-cookie-name"
    ),
    pytest.param("SessionMiddleware", {"backend": "nosuch://"}, ": backend", id="session-backend"),
    pytest.param("StaticFilesMiddleware", {}, ": no directory", id="static"),
    pytest.param(
        "StaticFilesMiddleware",
        {"url_prefix": "https://cdn.example/"},
        ": url_prefix",
        id="static-prefix",
    ),
    pytest.param(
        "TimingMiddleware",
        {"server_timing_metric": "a b"},
        ": parameter 'server_timing_metric'",
        id="timing",
    ),
    pytest.param(
        "TracingMiddleware", {"layer_spans": True}, ": parameter 'layer_spans'", id="tracing"
    ),
    pytest.param("TrustedHostMiddleware", {}, ": no allowed hosts", id="trusted-host"),
    pytest.param(
        "TrustedHostMiddleware",
        {"allowed_hosts": ["https://example.com/"]},
        ": allowed_hosts[0]",
        id="trusted-host-pattern",
    ),
]


def test_every_builtin_has_a_misconfiguration_case() -> None:
    assert {case.values[0] for case in MISCONFIGURED} == set(CLASSES)


@pytest.mark.parametrize(("name", "params", "rest"), MISCONFIGURED)
def test_a_subclass_misconfiguration_error_names_the_subclass(
    name: str, params: dict[str, Any], rest: str
) -> None:
    # A project's MyCSRF(CSRFMiddleware) is what its settings list, so it is what the
    # message must name: "CSRFMiddleware: ..." would send the reader looking for a
    # class that is not in their MIDDLEWARES.
    subclass = type(f"My{name}", (getattr(builtins, name),), {})
    with pytest.raises(ImproperlyConfigured) as caught:
        subclass(**params)
    assert str(caught.value).startswith(f"My{name}{rest}")


#: Every name a built-in refuses, and the one it names instead: its own names
#: before 0.1.0, and other frameworks' for the same parameter (CHANGELOG.md,
#: "Renamed parameters and settings"; docs/middlewares/index.md, "Parameter names").
OTHER_NAMES = [
    ("SessionMiddleware", "max_age", "cookie_max_age", "renamed"),
    ("SessionMiddleware", "path", "cookie_path", "renamed"),
    ("SessionMiddleware", "domain", "cookie_domain", "renamed"),
    ("SessionMiddleware", "secure", "cookie_secure", "renamed"),
    ("SessionMiddleware", "httponly", "cookie_httponly", "renamed"),
    ("SessionMiddleware", "samesite", "cookie_samesite", "renamed"),
    ("SessionMiddleware", "fallback_keys", "secret_key_fallbacks", "renamed"),
    ("SessionMiddleware", "session_cookie", "cookie_name", "Starlette's"),
    ("SessionMiddleware", "same_site", "cookie_samesite", "Starlette's"),
    ("SessionMiddleware", "https_only", "cookie_secure", "Starlette's"),
    ("SessionMiddleware", "cookie_age", "cookie_max_age", "SESSION_COOKIE_AGE"),
    (
        "SessionMiddleware",
        "save_every_request",
        "refresh_each_request",
        "SESSION_SAVE_EVERY_REQUEST",
    ),
    ("CSRFMiddleware", "fallback_keys", "secret_key_fallbacks", "renamed"),
    ("CSRFMiddleware", "cookie_age", "cookie_max_age", "CSRF_COOKIE_AGE"),
    ("CORSMiddleware", "allowed_origins", "allow_origins", "CORS_ALLOWED_ORIGINS"),
    ("CORSMiddleware", "allow_all_origins", "allow_origins", "CORS_ALLOW_ALL_ORIGINS"),
    (
        "CORSMiddleware",
        "allowed_origin_regexes",
        "allow_origin_regex",
        "CORS_ALLOWED_ORIGIN_REGEXES",
    ),
    ("CORSMiddleware", "preflight_max_age", "max_age", "CORS_PREFLIGHT_MAX_AGE"),
    ("SecurityHeadersMiddleware", "hsts_seconds", "hsts", "SECURE_HSTS_SECONDS"),
    ("HTTPSRedirectMiddleware", "redirect_exempt", "exempt_paths", "SECURE_REDIRECT_EXEMPT"),
    ("StaticFilesMiddleware", "directory", "directories", "Starlette's"),
]
OTHER_NAME_IDS = [f"{name}.{old}" for name, old, _, _ in OTHER_NAMES]


def test_the_table_of_other_names_is_the_one_refused() -> None:
    refused = {
        (path.rsplit(".", 1)[-1], old, other.new)
        for path, names in base.OTHER_NAMES.items()
        for old, other in names.items()
    }
    assert refused == {(name, old, new) for name, old, new, _ in OTHER_NAMES}


@pytest.mark.parametrize(("name", "old", "new", "whose"), OTHER_NAMES, ids=OTHER_NAME_IDS)
def test_an_other_name_is_no_parameter_and_its_new_name_is(
    name: str, old: str, new: str, whose: str
) -> None:
    parameters = inspect.signature(getattr(builtins, name).__init__).parameters
    assert old not in parameters
    assert new in parameters


def _expected(name: str, old: str, new: str, whose: str) -> str:
    if whose == "renamed":
        return f"{name}: parameter {old!r} was renamed to {new!r} in 0.1.0"
    return f"{name}: parameter {old!r} is "


@pytest.mark.parametrize(("name", "old", "new", "whose"), OTHER_NAMES, ids=OTHER_NAME_IDS)
def test_an_other_name_is_refused_when_built_in_python(
    name: str, old: str, new: str, whose: str
) -> None:
    with pytest.raises(ImproperlyConfigured) as caught:
        getattr(builtins, name)(**{old: None})
    message = str(caught.value)
    assert message.startswith(_expected(name, old, new, whose))
    assert whose in message or whose == "renamed"
    assert f"{new!r}" in message


@pytest.mark.parametrize(("name", "old", "new", "whose"), OTHER_NAMES, ids=OTHER_NAME_IDS)
def test_an_other_name_is_refused_in_params(name: str, old: str, new: str, whose: str) -> None:
    entry = {"class": f"lback_mw.middlewares.{name}", "params": {old: None}}
    with pytest.raises(ImproperlyConfigured) as caught:
        create_app({"DEBUG": True, "MIDDLEWARES": [entry]})
    prefix = f"MIDDLEWARES[0] ('lback_mw.middlewares.{name}'): "
    assert str(caught.value).startswith(prefix + _expected(name, old, new, whose))
    assert f"{new!r}" in str(caught.value)


def test_a_subclass_refuses_the_other_names_under_its_own_name() -> None:
    class ShopSessions(builtins.SessionMiddleware):
        pass

    with pytest.raises(ImproperlyConfigured, match=r"^ShopSessions: parameter 'max_age' was"):
        ShopSessions(max_age=60)  # type: ignore[call-arg]


def test_refusing_other_names_leaves_the_signature_to_init() -> None:
    class Tagged(BaseMiddleware):
        tag: str = "blue"

    # What the loader binds params against, and what help() shows.
    assert str(inspect.signature(Tagged)) == "(**kwargs: 'Any') -> 'None'"
    assert "cookie_max_age" in inspect.signature(builtins.SessionMiddleware).parameters


def test_a_subclass_may_take_an_other_name_itself() -> None:
    class ShortSessions(builtins.SessionMiddleware):
        def __init__(self, *, max_age: int = 60, **kwargs: Any) -> None:
            super().__init__(cookie_max_age=max_age, **kwargs)

    assert ShortSessions(max_age=30, secret_key="k" * 40).cookie_max_age == 30
    params = {"max_age": 30, "secret_key": "k" * 40}
    app = create_app({"DEBUG": True, "MIDDLEWARES": [{"class": ShortSessions, "params": params}]})
    assert app.configured_middleware[0].instance.cookie_max_age == 30
    app.close()


def test_the_docs_list_every_other_name() -> None:
    text = (DOCS / "index.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| `(\w+)` \| `(\w+)` \| `(\w+)`", text, re.MULTILINE)
    assert set(rows) == {(name, old, new) for name, old, new, _ in OTHER_NAMES}


def test_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="CorsMiddleware"):
        builtins.CorsMiddleware  # noqa: B018


def test_naming_one_builtin_does_not_import_the_others() -> None:
    code = (
        "import sys, lback_mw.middlewares as m; m.CORSMiddleware; "
        "print(sorted(n for n in sys.modules if n.startswith(('prometheus_client', "
        "'brotli', 'redis', 'lback_mw.middlewares.'))))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    loaded = result.stdout.strip()
    assert loaded == str(["lback_mw.middlewares." + name for name in ("_http", "base", "cors")])


#: Every built-in a page with a form and a signed-in area uses, in the recommended order.
PAGE_STACK = [
    "lback_mw.middlewares.MetricsMiddleware",
    "lback_mw.middlewares.RequestIDMiddleware",
    "lback_mw.middlewares.AccessLogMiddleware",
    "lback_mw.middlewares.TimingMiddleware",
    "lback_mw.middlewares.SecurityHeadersMiddleware",
    "lback_mw.middlewares.TrustedHostMiddleware",
    "lback_mw.middlewares.HTTPSRedirectMiddleware",
    {
        "class": "lback_mw.middlewares.CORSMiddleware",
        "params": {"allow_origins": ["https://a.example"]},
    },
    "lback_mw.middlewares.GZipMiddleware",
    "lback_mw.middlewares.SessionMiddleware",
    "lback_mw.middlewares.CSRFMiddleware",
    "lback_mw.middlewares.AuthenticationMiddleware",
]


def test_a_request_through_every_builtin_leaves_no_reference_cycle(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Garbage in a cycle waits for the cyclic collector; a request through the whole
    stack, access log on, must be freed by reference counting alone. Two cycles were
    found this way: the lazy user's LocalProxy (before request.defer) and the access
    log's close callback holding its response."""
    import gc

    from werkzeug.test import EnvironBuilder

    from lback_mw.testing import make_app

    caplog.set_level(logging.INFO, logger="lback_mw.access")
    app = make_app(
        MIDDLEWARES=PAGE_STACK,
        ALLOWED_HOSTS=["localhost"],
        SECRET_KEY="no-cycles-" + "k" * 40,
        dependencies={"user_loader": lambda user_id: None},
    )

    @app.route("/start")
    def start(request: Any) -> str:
        request.session["visits"] = 1
        return request.csrf_token()  # type: ignore[no-any-return]

    @app.route("/page")
    def page(request: Any) -> dict[str, Any]:
        token = request.csrf_token()
        return {"visits": request.session["visits"], "user": bool(request.user), "token": token}

    first = app.test_client().get("/start", "https://localhost/")
    cookie = "; ".join(h.split(";", 1)[0] for h in first.headers.getlist("Set-Cookie"))
    headers = [("Cookie", cookie), ("Origin", "https://a.example")]
    environ = EnvironBuilder("/page", "https://localhost/", headers=headers).get_environ()

    def served() -> str:
        """One request as a WSGI server makes it: the body read, then closed."""
        statuses: list[str] = []

        def start_response(status: str, headers: Any, exc_info: Any = None) -> Any:
            statuses.append(status)

        body = app(dict(environ), start_response)
        try:
            b"".join(body)
        finally:
            close = getattr(body, "close", None)
            if close is not None:
                close()
        return statuses[0]

    served()  # the first request of a process fills caches
    gc.collect()
    caplog.clear()
    gc.disable()
    try:
        assert {served() for _ in range(20)} == {"200 OK"}
        assert gc.collect() == 0
    finally:
        gc.enable()
    assert len([r for r in caplog.records if r.name == "lback_mw.access"]) == 20

"""``lback-mw check --deploy``: each production check, ids, SILENCED_CHECKS, exit codes."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from click.testing import CliRunner

from lback_mw import ImproperlyConfigured, log_config
from lback_mw.checks import CHECK_IDS, check_app, silence
from lback_mw.cli import cli
from lback_mw.deploy_checks import check_deploy
from lback_mw.testing import make_app

SECRET = "Zq8-3vNw_yT0sB1kR6uH9mE4cJ7pL2xA5dF"

#: A chain and settings that pass every deploy check.
PRODUCTION: dict[str, Any] = {
    "SECRET_KEY": SECRET,
    "ALLOWED_HOSTS": ["example.com"],
    "SESSION_BACKEND": "redis://127.0.0.1:6379/0",
    "RATELIMIT_BACKEND": "redis://127.0.0.1:6379/0",
    "METRICS_TOKEN": "a-token-for-prometheus-only-0123456789",
    "MIDDLEWARES": [
        "lback_mw.middlewares.MetricsMiddleware",
        "lback_mw.middlewares.AccessLogMiddleware",
        {"class": "lback_mw.middlewares.SecurityHeadersMiddleware", "params": {"hsts": 31536000}},
        "lback_mw.middlewares.TrustedHostMiddleware",
        "lback_mw.middlewares.HTTPSRedirectMiddleware",
        {"class": "lback_mw.middlewares.SessionMiddleware", "params": {"cookie_secure": True}},
        "lback_mw.middlewares.CSRFMiddleware",
        {"class": "lback_mw.middlewares.RateLimitMiddleware", "params": {"limit": "9/minute"}},
    ],
}


@pytest.fixture(autouse=True)
def _fresh_logging(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """As in a fresh process: no pytest capture handler on the root logger, and no
    level or handler left on lback_mw's loggers by other tests; some cases apply
    LOGGING (process-wide), undone after. (Opening the Redis backends above
    connects to nothing, so no server is needed.)"""
    loggers = [logging.getLogger(name) for name in ("lback_mw", "lback_mw.access")]
    saved = [(list(logger.handlers), logger.level) for logger in loggers]
    monkeypatch.setattr(log_config, "_applied", None)
    monkeypatch.setattr(logging.getLogger(), "handlers", [])
    for logger in loggers:
        logger.handlers[:] = []
        logger.setLevel(logging.NOTSET)
    yield
    for logger, (handlers, level) in zip(loggers, saved, strict=True):
        logger.handlers[:] = handlers
        logger.setLevel(level)


def findings(workers: int = 2, **changes: Any) -> list[tuple[str, str]]:
    app = make_app({**PRODUCTION, **changes})
    try:
        return [(message.id, message.message) for message in check_deploy(app, workers=workers)]
    finally:
        app.close()


def without(role_class: str) -> list[Any]:
    return [
        entry
        for entry in PRODUCTION["MIDDLEWARES"]
        if role_class not in (entry if isinstance(entry, str) else entry["class"])
    ]


def test_a_production_configuration_passes() -> None:
    assert findings() == []


@pytest.mark.parametrize(
    ("changes", "check_id", "text"),
    [
        pytest.param(
            {"RATELIMIT_BACKEND": "memory://"},
            "lback.E001",
            "RateLimitMiddleware') keeps its state in memory:// with 2 workers: each of the 2 "
            "workers counts on its own",
            id="memory rate limits",
        ),
        pytest.param(
            {"SESSION_BACKEND": "memory://"},
            "lback.E001",
            "Set SESSION_BACKEND (or the layer's 'backend' param) to a Redis URL",
            id="memory sessions",
        ),
        pytest.param(
            {"SECRET_KEY": "example-project-development-only-insecure-key"},
            "lback.E002",
            "SECRET_KEY contains 'insecure', so it was copied from an example",
            id="placeholder key",
        ),
        pytest.param(
            {"SECRET_KEY": "ab" * 20},
            "lback.E002",
            "SECRET_KEY has fewer than 5 distinct characters",
            id="made-up key",
        ),
        pytest.param(
            {"SECRET_KEY": "short-Key9", "DEBUG": True},
            "lback.W004",
            "SECRET_KEY is only 10 characters long",
            id="short key with DEBUG on",
        ),
        pytest.param(
            {"ALLOWED_HOSTS": ["*"]},
            "lback.W005",
            "allows any host ('*' in ALLOWED_HOSTS)",
            id="any host",
        ),
        pytest.param(
            {"MIDDLEWARES": without("TrustedHost")},
            "lback.W005",
            "No TrustedHostMiddleware in MIDDLEWARES",
            id="no host check",
        ),
        pytest.param(
            {
                "MIDDLEWARES": [
                    "lback_mw.middlewares.SecurityHeadersMiddleware",
                    *without("SecurityHeaders"),
                ]
            },
            "lback.W007",
            "('lback_mw.middlewares.SecurityHeadersMiddleware') has hsts off",
            id="no hsts",
        ),
        pytest.param(
            {
                "MIDDLEWARES": [
                    *without("SessionMiddleware"),
                    {
                        "class": "lback_mw.middlewares.SessionMiddleware",
                        "params": {"cookie_secure": False},
                    },
                ]
            },
            "lback.W008",
            "its cookie is sent without Secure ('cookie_secure' is False)",
            id="session cookie not secure",
        ),
        pytest.param(
            {"METRICS_TOKEN": None},
            "lback.W009",
            "serves /metrics to anyone",
            id="metrics without token",
        ),
        pytest.param(
            {"LOGGING": {"version": 1, "disable_existing_loggers": False}},
            "lback.W010",
            "logs to 'lback_mw.access', which has no handler at level INFO",
            id="access log without handler",
        ),
    ],
)
def test_each_deploy_check(
    changes: dict[str, Any], check_id: str, text: str, caplog: pytest.LogCaptureFixture
) -> None:
    # The root logger at its default level, as in a process nothing configured: a
    # run with `-o log_level=INFO` would otherwise give the access log a handler.
    caplog.set_level(logging.WARNING)
    found = findings(**changes)
    assert [found_id for found_id, _ in found] == [check_id], found
    assert text in found[0][1]


def test_no_redirect_and_a_cookie_that_follows_the_scheme() -> None:
    found = findings(MIDDLEWARES=without("HTTPSRedirect"))
    assert [found_id for found_id, _ in found] == ["lback.W006", "lback.W008"]
    assert found[0][1].startswith("No HTTPSRedirectMiddleware in MIDDLEWARES")
    assert "('lback_mw.middlewares.CSRFMiddleware'): its cookie is sent without" in found[1][1]
    assert "'cookie_secure' follows the request's scheme" in found[1][1]


def test_one_worker_may_keep_memory_backends() -> None:
    assert findings(workers=1, RATELIMIT_BACKEND="memory://", SESSION_BACKEND="memory://") == []


def test_every_finding_has_a_known_id() -> None:
    app = make_app(DEBUG=True, MIDDLEWARES=["lback_mw.middlewares.MetricsMiddleware"])
    messages = check_app(app) + check_deploy(app, workers=4)
    app.close()
    assert messages
    assert {message.id for message in messages} <= set(CHECK_IDS)
    assert all(str(message).startswith(message.id + ": ") for message in messages)


def test_silenced_checks_are_not_reported() -> None:
    app = make_app(DEBUG=True)
    [debug] = check_app(app)
    assert silence([debug], ["lback.W003"]) == []
    assert silence([debug], ["lback.W004"]) == [debug]


def test_an_unknown_silenced_id_is_an_error() -> None:
    with pytest.raises(ImproperlyConfigured) as caught:
        silence([], ["lback.W003", "lback.W03"])
    assert str(caught.value).startswith("SILENCED_CHECKS[1] is 'lback.W03', which is not a check")
    assert "Did you mean 'lback.W003'?" in str(caught.value)


# -- the command ---------------------------------------------------------------------


def run_check(tmp_path: Any, *args: str, **settings: Any) -> Any:
    path = tmp_path / "settings.py"
    path.write_text("".join(f"{name} = {value!r}\n" for name, value in settings.items()))
    return CliRunner().invoke(cli, ["check", "--settings", str(path), *args])


def test_check_deploy_exits_1_on_an_error(tmp_path: Any) -> None:
    result = run_check(tmp_path, "--deploy", **{**PRODUCTION, "RATELIMIT_BACKEND": "memory://"})
    assert result.exit_code == 1, result.output
    assert result.stdout.startswith("ERROR lback.E001: MIDDLEWARES[7] ")
    assert result.stdout.rstrip().endswith("; 1 error.")


def test_check_without_deploy_skips_the_production_checks(tmp_path: Any) -> None:
    result = run_check(tmp_path, **{**PRODUCTION, "RATELIMIT_BACKEND": "memory://"})
    assert result.exit_code == 0, result.output
    assert "lback.E001" not in result.stdout


def test_warnings_exit_1_with_fail_level_warning(tmp_path: Any) -> None:
    changed = {**PRODUCTION, "METRICS_TOKEN": None}
    plain = run_check(tmp_path, "--deploy", **changed)
    assert plain.exit_code == 0, plain.output
    assert plain.stdout.startswith("WARNING lback.W009: ")
    strict = run_check(tmp_path, "--deploy", "--fail-level", "warning", **changed)
    assert strict.exit_code == 1


def test_silenced_findings_are_counted(tmp_path: Any) -> None:
    result = run_check(
        tmp_path,
        "--deploy",
        "--fail-level",
        "warning",
        **{**PRODUCTION, "METRICS_TOKEN": None, "SILENCED_CHECKS": ["lback.W009"]},
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.rstrip().endswith("; no warnings (1 silenced).")


def test_check_workers_option_sets_the_count(tmp_path: Any) -> None:
    settings = {**PRODUCTION, "RATELIMIT_BACKEND": "memory://"}
    assert run_check(tmp_path, "--deploy", "--workers", "1", **settings).exit_code == 0
    four = run_check(tmp_path, "--deploy", "--workers", "4", **settings)
    assert "with 4 workers" in four.stdout


def test_access_log_handler_check_sees_the_applied_logging(tmp_path: Any) -> None:
    before = list(logging.getLogger("lback_mw.access").handlers)
    config = {
        "version": 1,
        "disable_existing_loggers": False,
        "handlers": {"null": {"class": "logging.NullHandler"}},
        "loggers": {"lback_mw.access": {"handlers": ["null"], "level": "INFO"}},
    }
    assert findings(LOGGING=config) == []
    assert logging.getLogger("lback_mw.access").handlers != before

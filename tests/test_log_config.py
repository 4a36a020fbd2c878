"""The LOGGING setting, its opt-out, and the default that run and serve install."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lback_mw import ImproperlyConfigured, log_config
from lback_mw.testing import make_app

LOGGER_NAMES = ("", "lback_mw", "lback_mw.access", "lback_mw.errors", "myproject")


@pytest.fixture(autouse=True)
def _restore_logging(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """dictConfig changes process-wide loggers: put them back after each test."""
    saved = {}
    for name in LOGGER_NAMES:
        logger = logging.getLogger(name)
        saved[name] = (list(logger.handlers), logger.level, logger.propagate, logger.disabled)
    monkeypatch.setattr(log_config, "_applied", None)
    for name in ("lback_mw", "lback_mw.access"):  # as in a fresh process
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.setLevel(logging.NOTSET)
    yield
    for name, (handlers, level, propagate, disabled) in saved.items():
        logger = logging.getLogger(name)
        for handler in logger.handlers:
            if handler not in handlers:
                handler.close()
        logger.handlers[:] = handlers
        logger.setLevel(level)
        logger.propagate = propagate
        logger.disabled = disabled


def file_logging(path: Path, logger: str = "myproject") -> dict[str, Any]:
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"bare": {"format": "%(levelname)s %(message)s"}},
        "handlers": {
            "file": {"class": "logging.FileHandler", "filename": str(path), "formatter": "bare"}
        },
        "loggers": {logger: {"handlers": ["file"], "level": "INFO"}},
    }


def test_create_app_applies_logging(tmp_path: Path) -> None:
    path = tmp_path / "app.log"
    make_app(LOGGING=file_logging(path)).close()
    logging.getLogger("myproject").info("hello from the project")
    assert path.read_text() == "INFO hello from the project\n"


def test_logging_reaches_the_access_log(tmp_path: Path) -> None:
    path = tmp_path / "access.log"
    app = make_app(
        LOGGING=file_logging(path, "lback_mw.access"),
        MIDDLEWARES=["lback_mw.middlewares.AccessLogMiddleware"],
    )
    app.route("/")(lambda request: "ok")
    assert app.test_client().get("/").status_code == 200
    assert '"GET / HTTP/1.1" 200 2' in path.read_text()


def test_the_same_logging_is_applied_once(tmp_path: Path) -> None:
    config = file_logging(tmp_path / "app.log")
    make_app(LOGGING=config).close()
    handlers = list(logging.getLogger("myproject").handlers)
    make_app(LOGGING=config).close()  # a second app of the same project, as in tests
    assert logging.getLogger("myproject").handlers == handlers


def test_existing_loggers_stay_enabled_unless_asked(tmp_path: Path) -> None:
    errors = logging.getLogger("lback_mw.errors")  # created when lback_mw was imported
    make_app(LOGGING={"version": 1}).close()
    assert not errors.disabled
    every = [
        obj for obj in logging.root.manager.loggerDict.values() if isinstance(obj, logging.Logger)
    ]
    enabled = [logger for logger in every if not logger.disabled]
    try:
        make_app(LOGGING={"version": 1, "disable_existing_loggers": True}).close()
        assert errors.disabled
    finally:
        for logger in enabled:
            logger.disabled = False


def test_opt_out_leaves_logging_alone(tmp_path: Path) -> None:
    before = list(logging.getLogger("myproject").handlers)
    make_app(LOGGING=file_logging(tmp_path / "app.log"), LOGGING_CONFIG=False).close()
    assert logging.getLogger("myproject").handlers == before
    assert not (tmp_path / "app.log").exists()


def test_invalid_logging_names_the_setting_and_the_part() -> None:
    bad = {"version": 1, "handlers": {"file": {"class": "logging.NoSuchHandler"}}}
    with pytest.raises(ImproperlyConfigured) as caught:
        make_app(LOGGING=bad)
    message = str(caught.value)
    assert message.startswith("LOGGING is not a valid logging.config.dictConfig mapping: ")
    assert "Unable to configure handler 'file'" in message
    assert "logging-config-dictschema" in message


def test_default_logging_when_nothing_is_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(logging.getLogger(), "handlers", [])  # no pytest capture handler
    settings = make_app().settings
    log_config.install_default_logging(settings)
    access = logging.getLogger("lback_mw.access")
    assert access.isEnabledFor(logging.INFO)
    [handler] = access.handlers
    assert isinstance(handler, logging.StreamHandler)
    assert handler.stream is sys.stderr  # as it was when the default was installed
    assert logging.getLogger("lback_mw").isEnabledFor(logging.INFO)


@pytest.mark.parametrize(
    "overrides",
    [
        pytest.param({"LOGGING_CONFIG": False}, id="opted out"),
        pytest.param({"LOGGING": {"version": 1}}, id="LOGGING given"),
    ],
)
def test_no_default_logging_when_the_project_decides(
    monkeypatch: pytest.MonkeyPatch, overrides: dict[str, Any]
) -> None:
    monkeypatch.setattr(logging.getLogger(), "handlers", [])
    log_config.install_default_logging(make_app(**overrides).settings)
    assert logging.getLogger("lback_mw.access").handlers == []


def test_no_default_logging_over_a_configured_root(monkeypatch: pytest.MonkeyPatch) -> None:
    handler = logging.NullHandler()
    monkeypatch.setattr(logging.getLogger(), "handlers", [handler])  # logging.basicConfig()
    log_config.install_default_logging(make_app().settings)
    assert logging.getLogger("lback_mw.access").handlers == []

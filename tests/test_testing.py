"""``lback_mw.testing``: make_app from any settings source, override_settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from lback_mw import ImproperlyConfigured, Settings
from lback_mw.testing import make_app, override_settings


def test_make_app_from_a_module_with_overrides() -> None:
    app = make_app("example_project.settings", DEBUG=False, APP_CUSTOM_HEADER="changed")
    try:
        assert app.settings.DEBUG is False
        assert app.settings.APP_CUSTOM_HEADER == "changed"
        # The rest is the module's, not the test defaults'.
        assert app.settings.SECRET_KEY == "example-project-development-only-insecure-key"
        assert len(app.configured_middleware) == 15
    finally:
        app.close()


def test_make_app_from_a_yaml_file(tmp_path: Path) -> None:
    path = tmp_path / "settings.yaml"
    path.write_text("SECRET_KEY: from-the-file-0123456789\nDEBUG: true\n")
    app = make_app(str(path), DEBUG=False)
    assert (app.settings.DEBUG, app.settings.SECRET_KEY) == (False, "from-the-file-0123456789")
    assert tmp_path == app.settings.BASE_DIR


def test_make_app_from_settings_validates_the_overrides() -> None:
    settings = Settings(DEBUG=True)
    with pytest.raises(ImproperlyConfigured, match="SECRET_KEY is empty while DEBUG is off"):
        make_app(settings, DEBUG=False)
    assert make_app(settings, SECRET_KEY="k" * 40, DEBUG=False).settings.DEBUG is False


def test_the_environment_still_wins_over_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LBACK_DEBUG", "true")
    assert make_app("example_project.settings", DEBUG=False).settings.DEBUG is True


def test_override_settings_builds_and_closes() -> None:
    closed: list[bool] = []
    with override_settings("example_project.settings", DEBUG=False) as app:
        assert app.settings.DEBUG is False
        app.close = lambda: closed.append(True)  # type: ignore[method-assign]
    assert closed == [True]

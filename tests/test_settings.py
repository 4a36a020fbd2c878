"""Settings from every source, environment overrides, and the errors for bad files."""

from __future__ import annotations

import types
from pathlib import Path
from typing import Any, get_origin

import pydantic
import pytest

from lback_mw import ImproperlyConfigured, Settings, create_app
from lback_mw.settings import load_settings
from tests import sample_settings

YAML = """\
DEBUG: false
SECRET_KEY: yaml-secret-key-for-tests-only-0123456789
MIDDLEWARES:
  - tests.sample_middlewares.KwargsMiddleware
  - class: tests.sample_middlewares.HeaderMiddleware
    params:
      header: X-From-Module
APP_CUSTOM_HEADER: from-yaml
"""


def _write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def _chain(settings: Settings) -> list[Any]:
    return [entry if isinstance(entry, str) else entry["class"] for entry in settings.MIDDLEWARES]


def test_dotted_module_path() -> None:
    settings = load_settings("tests.sample_settings")
    assert settings.APP_CUSTOM_HEADER == "from-module"
    assert _chain(settings) == [
        "tests.sample_middlewares.KwargsMiddleware",
        "tests.sample_middlewares.HeaderMiddleware",
    ]
    assert Path(sample_settings.__file__).resolve().parent == settings.BASE_DIR
    assert "helper_value" not in (settings.model_extra or {})


def test_module_object() -> None:
    settings = load_settings(sample_settings)
    assert settings.SECRET_KEY == sample_settings.SECRET_KEY


@pytest.mark.parametrize("suffix", [".yaml", ".yml"])
def test_yaml_file(tmp_path: Path, suffix: str) -> None:
    settings = load_settings(_write(tmp_path, f"settings{suffix}", YAML))
    assert settings.APP_CUSTOM_HEADER == "from-yaml"
    assert _chain(settings) == _chain(load_settings("tests.sample_settings"))
    assert tmp_path.resolve() == settings.BASE_DIR


def test_python_file_path(tmp_path: Path) -> None:
    path = _write(tmp_path, "conf.py", "DEBUG = True\nAPP_NAME = 'file'\n")
    settings = load_settings(path)
    assert (settings.DEBUG, settings.APP_NAME) == (True, "file")


def test_dict_and_settings_instance() -> None:
    settings = load_settings({"DEBUG": True, "APP_FLAG": 1})
    assert settings.APP_FLAG == 1
    assert load_settings(settings) is settings


def test_lback_settings_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LBACK_SETTINGS", "tests.sample_settings")
    app = create_app()
    assert app.settings.APP_CUSTOM_HEADER == "from-module"
    assert app.configured_middleware[0].path.endswith("KwargsMiddleware")


def test_no_settings_at_all_is_explained() -> None:
    with pytest.raises(ImproperlyConfigured, match=r"No settings given.*LBACK_SETTINGS"):
        load_settings(None)


def test_environment_overrides_file_values(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LBACK_DEBUG", "1")
    monkeypatch.setenv("LBACK_APP_CUSTOM_HEADER", "from-env")
    monkeypatch.setenv("LBACK_MIDDLEWARES", '["tests.sample_middlewares.PlainHooks"]')
    monkeypatch.setenv("LBACK_ALLOWED_HOSTS", '["example.com"]')
    monkeypatch.setenv("LBACK_NEW_NAME", "only-in-env")
    for source in ("tests.sample_settings", _write(tmp_path, "s.yaml", YAML)):
        settings = load_settings(source)
        assert settings.DEBUG is True
        assert settings.APP_CUSTOM_HEADER == "from-env"
        assert settings.MIDDLEWARES == ["tests.sample_middlewares.PlainHooks"]
        assert settings.ALLOWED_HOSTS == ["example.com"]
        assert settings.NEW_NAME == "only-in-env"


#: Every declared list setting: one rule for all of them (issue 8 item 9).
LIST_SETTINGS = [
    name for name, field in Settings.model_fields.items() if get_origin(field.annotation) is list
]


@pytest.mark.parametrize("name", LIST_SETTINGS)
@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("example.com", ["example.com"], id="one"),
        pytest.param(" a.example , b.example,", ["a.example", "b.example"], id="comma-separated"),
        pytest.param('["a.example", "b,c"]', ["a.example", "b,c"], id="json"),
        pytest.param("", [], id="empty"),
    ],
)
def test_every_list_setting_takes_a_comma_separated_list_or_json(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, expected: list[str]
) -> None:
    monkeypatch.setenv(f"LBACK_{name}", value)
    assert getattr(load_settings({"DEBUG": True}), name) == expected


def test_a_broken_json_list_names_the_variable_and_both_forms(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LBACK_ALLOWED_HOSTS", '["example.com"')
    with pytest.raises(ImproperlyConfigured) as info:
        load_settings({"DEBUG": True})
    message = str(info.value)
    assert message.startswith("LBACK_ALLOWED_HOSTS starts with '[' but is not a JSON list")
    assert """'["example.com", "www.example.com"]'""" in message
    assert "'example.com,www.example.com'" in message


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        pytest.param("cache=myproject.cache", "not valid JSON", id="not json"),
        pytest.param('["cache"]', "JSON list, not an object", id="a list"),
    ],
)
def test_a_dict_setting_from_the_environment_must_be_a_json_object(
    monkeypatch: pytest.MonkeyPatch, value: str, problem: str
) -> None:
    monkeypatch.setenv("LBACK_DEPENDENCIES", value)
    with pytest.raises(ImproperlyConfigured) as info:
        load_settings({"DEBUG": True})
    message = str(info.value)
    assert message.startswith("LBACK_DEPENDENCIES must be a JSON object, such as '{")
    assert problem in message
    monkeypatch.setenv("LBACK_DEPENDENCIES", '{"cache": "myproject.cache.make_cache"}')
    assert load_settings({"DEBUG": True}).DEPENDENCIES == {"cache": "myproject.cache.make_cache"}


def test_cors_allow_origins_follows_the_same_rule(monkeypatch: pytest.MonkeyPatch) -> None:
    # A project setting, read by CORSMiddleware: comma-separated or JSON alike.
    cors = "lback_mw.middlewares.CORSMiddleware"
    for value in (
        "https://a.example,https://b.example",
        '["https://a.example", "https://b.example"]',
    ):
        monkeypatch.setenv("LBACK_CORS_ALLOW_ORIGINS", value)
        app = create_app({"DEBUG": True, "MIDDLEWARES": [cors]})
        app.route("/")(lambda request: "ok")
        for origin in ("https://a.example", "https://b.example"):
            response = app.test_client().get("/", headers={"Origin": origin})
            assert response.headers["Access-Control-Allow-Origin"] == origin
        app.close()


RENAMED = (
    "was renamed to 'CORS_ALLOW_ORIGINS' in 0.1.0, after CORSMiddleware's allow_origins "
    "(CORS_ALLOWED_ORIGINS is django-cors-headers' name). Write CORS_ALLOW_ORIGINS "
    "(LBACK_CORS_ALLOW_ORIGINS in the environment)."
)


def test_the_former_cors_setting_is_refused_in_a_dict() -> None:
    with pytest.raises(ImproperlyConfigured) as info:
        load_settings({"DEBUG": True, "CORS_ALLOWED_ORIGINS": ["https://a.example"]})
    assert str(info.value) == f"Invalid settings dict: setting 'CORS_ALLOWED_ORIGINS' {RENAMED}"


def test_the_former_cors_setting_is_refused_in_yaml(tmp_path: Path) -> None:
    path = _write(tmp_path, "settings.yaml", "DEBUG: true\nCORS_ALLOWED_ORIGINS: ['*']\n")
    with pytest.raises(ImproperlyConfigured) as info:
        load_settings(path)
    assert f"settings.yaml': setting 'CORS_ALLOWED_ORIGINS' {RENAMED}" in str(info.value)


def test_the_former_cors_setting_is_refused_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LBACK_CORS_ALLOWED_ORIGINS", "https://a.example")
    with pytest.raises(ImproperlyConfigured) as info:
        load_settings({"DEBUG": True})
    assert str(info.value).endswith(
        "setting 'CORS_ALLOWED_ORIGINS' (from environment variable "
        f"LBACK_CORS_ALLOWED_ORIGINS) {RENAMED}"
    )


def test_lback_settings_itself_is_not_a_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LBACK_SETTINGS", "tests.sample_settings")
    assert "SETTINGS" not in (load_settings(None).model_extra or {})


def test_bad_environment_value_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LBACK_DEBUG", "maybe")
    with pytest.raises(ImproperlyConfigured) as info:
        load_settings("tests.sample_settings")
    message = str(info.value)
    assert "settings module 'tests.sample_settings'" in message
    assert "DEBUG" in message
    assert "environment variable LBACK_DEBUG" in message


def test_settings_are_frozen() -> None:
    settings = load_settings({"DEBUG": True})
    with pytest.raises(pydantic.ValidationError):
        settings.DEBUG = False  # type: ignore[misc]


@pytest.mark.parametrize(
    ("filename", "text", "fragments"),
    [
        pytest.param(
            "settings.toml",
            "DEBUG = true",
            ["settings.toml'", "cannot read (.toml)"],
            id="unknown file type",
        ),
        pytest.param(
            "settings.yaml",
            "DEBUG: [unclosed",
            ["is not valid YAML", "line 1"],
            id="YAML syntax error",
        ),
        pytest.param(
            "settings.yaml",
            "- DEBUG\n- true\n",
            ["must hold a mapping", "not a list"],
            id="YAML top level not a mapping",
        ),
        pytest.param(
            "settings.yaml",
            "DEBUG: true\nMIDDLEWARES: tests.sample_middlewares.X\n",
            ["MIDDLEWARES: Input should be a valid list", "got 'tests.sample"],
            id="MIDDLEWARES not a list",
        ),
        pytest.param(
            "settings.yaml",
            "DEBUG: false\n",
            ["SECRET_KEY is empty while DEBUG is off", "LBACK_SECRET_KEY"],
            id="empty SECRET_KEY without DEBUG",
        ),
        pytest.param(
            "settings.yaml",
            "DEBUG: true\nMIDDLEWARE: []\n",
            ["'MIDDLEWARE' is not a setting lback_mw knows", "Did you mean 'MIDDLEWARES'?"],
            id="near-miss of a built-in name",
        ),
        pytest.param(
            "settings.yaml",
            "DEBUG: true\ndebug: true\n",
            ["setting 'debug' is not an upper-case name", "Did you mean 'DEBUG'?"],
            id="lower-case name",
        ),
        pytest.param(
            "settings.py",
            "DEBUG = True\nraise ValueError('oops')\n",
            ["Executing settings file", "ValueError: oops"],
            id="python file raises",
        ),
    ],
)
def test_bad_settings_files_name_the_file_and_problem(
    tmp_path: Path, filename: str, text: str, fragments: list[str]
) -> None:
    path = _write(tmp_path, filename, text)
    with pytest.raises(ImproperlyConfigured) as info:
        load_settings(path)
    message = str(info.value)
    assert filename in message
    for fragment in fragments:
        assert fragment in message


def test_missing_files_and_modules(tmp_path: Path) -> None:
    with pytest.raises(ImproperlyConfigured, match="does not exist"):
        load_settings(str(tmp_path / "absent.yaml"))
    with pytest.raises(ImproperlyConfigured, match=r"'tests\.no_such_settings' was not found"):
        load_settings("tests.no_such_settings")
    with pytest.raises(ImproperlyConfigured, match="Cannot read settings from int"):
        load_settings(3)


def test_debug_allows_an_empty_secret_key() -> None:
    assert load_settings({"DEBUG": True}).SECRET_KEY == ""


def test_template_dirs_must_exist(tmp_path: Path) -> None:
    with pytest.raises(ImproperlyConfigured, match="TEMPLATE_DIRS names directories"):
        create_app({"DEBUG": True, "BASE_DIR": tmp_path, "TEMPLATE_DIRS": ["missing"]})


def test_settings_module_object_without_file() -> None:
    module = types.ModuleType("generated")
    module.DEBUG = True  # type: ignore[attr-defined]
    assert load_settings(module).DEBUG is True


def test_misspelt_name_is_reported_before_the_secret_key_rule() -> None:
    with pytest.raises(ImproperlyConfigured) as info:
        load_settings({"debug": True})
    assert "setting 'debug' is not an upper-case name" in str(info.value)
    assert "SECRET_KEY" not in str(info.value)


def test_misspelt_environment_variable_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LBACK_DEBUGG", "1")
    with pytest.raises(ImproperlyConfigured) as info:
        load_settings("tests.sample_settings")
    assert "'DEBUGG' (from environment variable LBACK_DEBUGG) is not a setting" in str(info.value)
    assert "Did you mean 'DEBUG'?" in str(info.value)

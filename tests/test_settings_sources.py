"""Settings from a ``.env`` file and a secrets directory, their precedence, and
``lback-mw settings --diff`` (issue 9: "Settings from .env and secret files")."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from lback_mw import ImproperlyConfigured
from lback_mw.cli import cli
from lback_mw.settings import load_settings

SETTINGS_PY = """\
DEBUG = True
SECRET_KEY = "from-the-settings-file"
LOGIN_URL = "/file-login"
ALLOWED_HOSTS = ["file.example"]
DATABASE_URL = "postgresql+psycopg://app:hunter2@db.internal/app"
APP_GREETING = "file"
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A settings file with a ``.env`` beside it."""
    (tmp_path / "settings.py").write_text(SETTINGS_PY)
    (tmp_path / ".env").write_text(
        "# what a developer keeps out of git\n"
        "LBACK_LOGIN_URL=/dotenv-login\n"
        "LBACK_ALLOWED_HOSTS=a.example, b.example\n"
        "LBACK_APP_GREETING=dotenv\n"
        "LBACK_RATELIMIT_BACKEND=memory://\n"
    )
    return tmp_path


def test_precedence_environment_then_dotenv_then_file_then_defaults(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings_file = str(project / "settings.py")
    monkeypatch.setenv("LBACK_LOGIN_URL", "/env-login")
    settings = load_settings(settings_file)
    assert settings.LOGIN_URL == "/env-login"  # the process environment wins
    assert settings.source_of("LOGIN_URL") == "environment variable LBACK_LOGIN_URL"
    assert settings.ALLOWED_HOSTS == ["a.example", "b.example"]  # .env over the file
    assert settings.source_of("ALLOWED_HOSTS") == f"{project / '.env'} (LBACK_ALLOWED_HOSTS)"
    assert settings.APP_GREETING == "dotenv"  # a project's own name, from .env too
    assert settings.SECRET_KEY == "from-the-settings-file"
    assert settings.source_of("SECRET_KEY") == f"settings file {settings_file!r}"
    assert settings.STATIC_URL == "/static/"
    assert settings.source_of("STATIC_URL") == "default"

    monkeypatch.delenv("LBACK_LOGIN_URL")
    assert load_settings(settings_file).LOGIN_URL == "/dotenv-login"
    (project / ".env").unlink()
    assert load_settings(settings_file).LOGIN_URL == "/file-login"


def test_env_file_named_by_variable_or_setting(
    project: Path, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = tmp_path_factory.mktemp("elsewhere") / "production.env"
    other.write_text("LBACK_LOGIN_URL=/other-login\n")
    monkeypatch.setenv("LBACK_ENV_FILE", str(other))
    settings = load_settings(str(project / "settings.py"))
    assert settings.LOGIN_URL == "/other-login"
    assert settings.ALLOWED_HOSTS == ["file.example"]  # the .env beside is not read then
    monkeypatch.delenv("LBACK_ENV_FILE")

    settings = load_settings({"DEBUG": True, "ENV_FILE": str(other)})
    assert settings.LOGIN_URL == "/other-login"

    with pytest.raises(ImproperlyConfigured, match=r"ENV_FILE is '.*missing\.env', which is not"):
        load_settings({"DEBUG": True, "ENV_FILE": str(other.with_name("missing.env"))})


def test_a_bad_list_in_dotenv_names_the_file(project: Path) -> None:
    (project / ".env").write_text('LBACK_ALLOWED_HOSTS=["a.example"\n')
    with pytest.raises(ImproperlyConfigured) as info:
        load_settings(str(project / "settings.py"))
    assert str(info.value).startswith(
        f"LBACK_ALLOWED_HOSTS in {project / '.env'} starts with '[' but is not a JSON list"
    )


def test_secrets_directory_below_dotenv_above_the_file(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secrets = project / "secrets"
    secrets.mkdir()
    (secrets / "LBACK_SECRET_KEY").write_text("mounted-secret-key-0123456789\n")
    (secrets / "LBACK_LOGIN_URL").write_text("/secret-login")
    monkeypatch.setenv("LBACK_SECRETS_DIR", str(secrets))
    settings = load_settings(str(project / "settings.py"))
    assert settings.SECRET_KEY == "mounted-secret-key-0123456789"  # stripped, over the file
    assert settings.source_of("SECRET_KEY") == f"secret file {secrets / 'LBACK_SECRET_KEY'}"
    assert settings.LOGIN_URL == "/dotenv-login"  # .env wins over a secret file

    # Relative to the settings' directory, from the settings file itself.
    monkeypatch.delenv("LBACK_SECRETS_DIR")
    (project / "settings.py").write_text(SETTINGS_PY + 'SECRETS_DIR = "secrets"\n')
    assert load_settings(str(project / "settings.py")).SECRET_KEY.startswith("mounted")

    monkeypatch.setenv("LBACK_SECRETS_DIR", str(project / "nowhere"))
    with pytest.raises(ImproperlyConfigured, match=r"SECRETS_DIR is .*, which is not a directory"):
        load_settings(str(project / "settings.py"))


def test_settings_diff_shows_what_differs_where_from_and_masks_secrets(project: Path) -> None:
    secrets = project / "secrets"
    secrets.mkdir()
    (secrets / "LBACK_SECRET_KEY").write_text("mounted-secret-key-0123456789")
    runner = CliRunner()
    settings = str(project / "settings.py")
    env = {"LBACK_DEBUG": "false", "LBACK_SECRETS_DIR": str(secrets)}
    result = runner.invoke(cli, ["settings", "--settings", settings, "--diff"], env=env)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    # Equal to its default, though a source set it: not a difference (DEBUG, from
    # the environment), like STATIC_URL that nothing set.
    assert not any(line.startswith(("DEBUG ", "STATIC_URL ")) for line in lines)
    assert f"SECRET_KEY = '********'  # secret file {secrets / 'LBACK_SECRET_KEY'}" in lines
    assert (
        f"ALLOWED_HOSTS = ['a.example', 'b.example']  # {project / '.env'} (LBACK_ALLOWED_HOSTS)"
        in lines
    )
    assert (
        "DATABASE_URL = 'postgresql+psycopg://app:********@db.internal/app'"
        f"  # settings file {settings!r}" in lines
    )
    assert f"SECRETS_DIR = {str(secrets)!r}  # environment variable LBACK_SECRETS_DIR" in lines
    assert f"APP_GREETING = 'dotenv'  # {project / '.env'} (LBACK_APP_GREETING)" in lines
    assert "mounted-secret" not in result.output
    assert "hunter2" not in result.output
    assert "RATELIMIT_BACKEND = 'memory://'" in result.output  # the default is None

    everything = runner.invoke(cli, ["settings", "--settings", settings], env=env)
    assert "STATIC_URL = '/static/'  # default" in everything.output.splitlines()


def test_env_file_option_is_read_by_every_command(
    project: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    other = tmp_path_factory.mktemp("cli-env") / "staging.env"
    other.write_text("LBACK_LOGIN_URL=/staging-login\n")
    result = CliRunner().invoke(
        cli,
        ["--env-file", str(other), "settings", "--settings", str(project / "settings.py")],
        env={"LBACK_ENV_FILE": None},
    )
    assert result.exit_code == 0, result.output
    assert f"LOGIN_URL = '/staging-login'  # {other} (LBACK_LOGIN_URL)" in result.output

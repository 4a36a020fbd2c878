"""Settings: one pydantic-settings model, fed from a module, a YAML file or a dict.

Precedence, highest first: ``LBACK_``-prefixed environment variables, a ``.env``
file (``ENV_FILE``), a secrets directory (``SECRETS_DIR``), the values of the
settings source, the defaults below (the sources themselves are in ``_env.py``).
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from pydantic import Field, PrivateAttr, ValidationError, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
)

from ._env import ENV_FILE_ENV_VAR as ENV_FILE_ENV_VAR
from ._env import ENV_PREFIX as ENV_PREFIX
from ._env import SETTINGS_ENV_VAR as SETTINGS_ENV_VAR
from ._env import Provenance, locate, sources, tracing
from .exceptions import ImproperlyConfigured, did_you_mean

YAML_SUFFIXES = (".yaml", ".yml")
#: Former setting names, refused with the one to write: old name -> (new name,
#: the release that renamed it, why). A built-in's setting is its component's
#: prefix and the parameter it stands for, upper-cased (``CSRF_TRUSTED_ORIGINS``
#: for ``trusted_origins``); these broke that rule.
RENAMED_SETTINGS = {
    "CORS_ALLOWED_ORIGINS": (
        "CORS_ALLOW_ORIGINS",
        "0.1.0",
        "after CORSMiddleware's allow_origins (CORS_ALLOWED_ORIGINS is django-cors-headers' name)",
    ),
}
#: Suffixes of files people put settings in that we do not read; named in the error.
_OTHER_FILE_SUFFIXES = (".json", ".toml", ".ini", ".cfg", ".env", ".txt", ".conf")


class Settings(BaseSettings):
    """The settings of one app. Extra upper-case names are kept as attributes.

    Instances are frozen: settings are read at start-up and must not drift
    while requests are served.
    """

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        case_sensitive=True,
        extra="allow",
        frozen=True,
        validate_default=True,
    )

    #: The middleware chain, outermost first.
    MIDDLEWARES: list[Any] = []
    #: Plain WSGI middleware (``werkzeug.middleware.proxy_fix.ProxyFix``) applied
    #: around the whole app, outermost first.
    WSGI_MIDDLEWARES: list[Any] = []
    DEBUG: bool = False
    SECRET_KEY: str = ""
    #: Former keys, still accepted to verify signed values while SECRET_KEY rotates.
    SECRET_KEY_FALLBACKS: list[str] = []
    ALLOWED_HOSTS: list[str] = []
    #: Other origins (``https://*.example.com``) whose pages may post to this site.
    CSRF_TRUSTED_ORIGINS: list[str] = []
    #: Where SessionMiddleware keeps sessions (a backend URL); ``None``: a signed cookie.
    SESSION_BACKEND: str | None = None
    #: Origins CORSMiddleware allows when its ``allow_origins`` is not given
    #: (``["https://app.example.com"]``, ``["*"]``); ``None``: none configured.
    CORS_ALLOW_ORIGINS: list[str] | None = None
    #: The bearer token MetricsMiddleware's endpoint asks for when its ``token`` is
    #: not given; ``None`` leaves the endpoint open (``lback-mw check --deploy`` warns).
    METRICS_TOKEN: str | None = None
    #: Where AuthenticationMiddleware sends browsers that must log in (a path or URL).
    LOGIN_URL: str = "/login"
    #: SQLAlchemy URL; ``None`` means a SQLite file ``db.sqlite3`` in ``BASE_DIR``.
    DATABASE_URL: str | None = None
    #: Where rate-limit counters are kept: ``memory://`` or ``redis://host:6379/0``;
    #: ``None`` means ``memory://`` (one process).
    RATELIMIT_BACKEND: str | None = None
    #: Template directories; relative ones are taken from ``BASE_DIR``.
    TEMPLATE_DIRS: list[str] = []
    #: The URL path static files are served under (StaticFilesMiddleware).
    STATIC_URL: str = "/static/"
    #: The directory static files are served from; a relative one is taken from ``BASE_DIR``.
    STATIC_ROOT: Path | None = None
    #: Dotted path of a module with a ``routes`` list of :class:`~lback_mw.routing.Route`.
    ROUTES: str | None = None
    #: Extra injectable dependencies: name -> dotted path of a factory (or value).
    DEPENDENCIES: dict[str, str] = {}
    #: The project directory; defaults to the directory of the settings file or module.
    BASE_DIR: Path = Field(default_factory=Path.cwd)
    #: A dotenv file of ``LBACK_<NAME>=value`` lines; unset: ``.env`` beside the settings, if any.
    ENV_FILE: Path | None = None
    #: A directory of one file per setting, named like its variable (``LBACK_SECRET_KEY``).
    SECRETS_DIR: Path | None = None

    # Where each setting came from (see setting_sources), filled when it is built.
    _sources: dict[str, str] = PrivateAttr(default_factory=dict)
    #: A ``logging.config.dictConfig`` mapping, applied once by ``create_app``;
    #: ``None``: ``lback-mw run`` and ``serve`` log lback_mw's records to stderr.
    LOGGING: dict[str, Any] | None = None
    #: ``False`` leaves logging alone entirely: ``LOGGING`` is not applied and the
    #: commands install no default (a project that configures logging itself).
    LOGGING_CONFIG: bool = True
    #: Ids of ``lback-mw check`` findings not to report (``["lback.W003"]``).
    SILENCED_CHECKS: list[str] = []

    if TYPE_CHECKING:
        # Project-defined upper-case names (config.APP_CUSTOM_HEADER) are read as
        # attributes; tell type checkers so.
        def __getattr__(self, name: str) -> Any: ...

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The environment wins over the settings file, as deployments expect.
        return sources(settings_cls, init_settings)

    def __eq__(self, other: object) -> bool:
        # The same values are the same settings, wherever they were read from.
        if not isinstance(other, Settings):
            return NotImplemented
        return (
            type(self) is type(other)
            and self.__dict__ == other.__dict__
            and self.__pydantic_extra__ == other.__pydantic_extra__
        )

    def source_of(self, name: str) -> str:
        """Where the value of setting ``name`` came from: ``"environment variable
        LBACK_DEBUG"``, ``"/srv/app/.env (LBACK_DEBUG)"``, ``"secret file
        /run/secrets/LBACK_SECRET_KEY"``, ``"settings module 'myproject.settings'"``,
        or ``"default"``."""
        return self._sources.get(name, "default")

    @model_validator(mode="after")
    def _check(self) -> Settings:
        # Names first: a misspelt DEBUG would otherwise surface as a SECRET_KEY error.
        for name in self.model_extra or {}:
            origin = (
                f" (from environment variable {ENV_PREFIX}{name})"
                if ENV_PREFIX + name in os.environ
                else ""
            )
            if name in RENAMED_SETTINGS:
                new, release, why = RENAMED_SETTINGS[name]
                raise ValueError(
                    f"setting {name!r}{origin} was renamed to {new!r} in {release}, {why}. "
                    f"Write {new} ({ENV_PREFIX}{new} in the environment)."
                )
            if not (name.isupper() and name.isidentifier()):
                raise ValueError(
                    f"setting {name!r}{origin} is not an upper-case name; settings are "
                    f"upper-case, like DEBUG.{did_you_mean(name.upper(), type(self).model_fields)}"
                )
            # A near-miss of a built-in name (MIDDLEWARE, DATABASE_URI) would otherwise
            # be kept as a project setting and silently ignored.
            suggestion = did_you_mean(name, type(self).model_fields, cutoff=0.85)
            if suggestion:
                raise ValueError(
                    f"{name!r}{origin} is not a setting lback_mw knows, and it is so close "
                    f"to one that it is probably a typo.{suggestion}"
                )
        if not self.SECRET_KEY and not self.DEBUG:
            raise ValueError(
                "SECRET_KEY is empty while DEBUG is off. Set SECRET_KEY in your settings "
                f"or the {ENV_PREFIX}SECRET_KEY environment variable, for example to the "
                "output of: python -c 'import secrets; print(secrets.token_urlsafe(50))'"
            )
        return self


def load_settings(source: Any = None, overrides: Mapping[str, Any] | None = None) -> Settings:
    """Build :class:`Settings` from any source :func:`~lback_mw.create_app` accepts.

    :param overrides: values that replace the source's before validation, so a
        test can turn a module's ``DEBUG`` off (the environment still wins).
    """
    if source is None:
        source = os.environ.get(SETTINGS_ENV_VAR)
        if not source:
            raise ImproperlyConfigured(
                f"No settings given: pass them to create_app(...) or --settings, or set "
                f"the {SETTINGS_ENV_VAR} environment variable to a dotted module path "
                "(myproject.settings) or a .yaml file."
            )
    extra = dict(overrides or {})
    if isinstance(source, Settings):
        if not extra:
            return source
        # Validated again, as any other source: an override can break a rule.
        return _build({**source.model_dump(), **extra}, "settings", None)
    if isinstance(source, ModuleType):
        return _build(
            _module_values(source) | extra,
            f"settings module {source.__name__!r}",
            _module_dir(source),
        )
    if isinstance(source, Mapping):
        return _build(dict(source) | extra, "settings dict", None)
    if isinstance(source, str | os.PathLike):
        return _load_named(os.fspath(source), extra)
    raise ImproperlyConfigured(
        f"Cannot read settings from {type(source).__name__} {source!r}: pass a dotted "
        "module path, a .yaml/.yml file path, a module, a dict or a Settings instance."
    )


def _load_named(name: str, overrides: dict[str, Any]) -> Settings:
    path = Path(name)
    suffix = path.suffix.lower()
    looks_like_file = os.sep in name or "/" in name or path.is_file()
    if suffix in YAML_SUFFIXES:
        return _build(
            _yaml_values(path) | overrides, f"settings file {name!r}", path.resolve().parent
        )
    if suffix == ".py" and looks_like_file:
        return _build(
            _module_values(_module_from_file(path)) | overrides,
            f"settings file {name!r}",
            path.resolve().parent,
        )
    if suffix in _OTHER_FILE_SUFFIXES or looks_like_file:
        raise ImproperlyConfigured(
            f"Settings file {name!r} has a type lback_mw cannot read ({suffix or 'no suffix'}). "
            "Use a Python module (dotted path or .py file) or a .yaml/.yml file."
        )
    module = _import_settings_module(name)
    return _build(
        _module_values(module) | overrides, f"settings module {name!r}", _module_dir(module)
    )


def _import_settings_module(dotted: str) -> ModuleType:
    try:
        return importlib.import_module(dotted)
    except ModuleNotFoundError as exc:
        if exc.name is None or not dotted.startswith(exc.name):
            raise ImproperlyConfigured(
                f"Importing settings module {dotted!r} failed: {exc}"
            ) from exc
        raise ImproperlyConfigured(
            f"Settings module {dotted!r} was not found (no module named {exc.name!r}). "
            "Check the dotted path and that its package is importable from the current "
            f"directory {os.getcwd()!r}."
        ) from exc
    except Exception as exc:
        raise ImproperlyConfigured(
            f"Importing settings module {dotted!r} failed: {type(exc).__name__}: {exc}"
        ) from exc


def _module_from_file(path: Path) -> ModuleType:
    if not path.is_file():
        raise ImproperlyConfigured(f"Settings file {str(path)!r} does not exist.")
    spec = importlib.util.spec_from_file_location(f"_lback_settings_{path.stem}", path)
    assert spec is not None  # a .py path always has a spec and a loader
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        raise ImproperlyConfigured(
            f"Executing settings file {str(path)!r} failed: {type(exc).__name__}: {exc}"
        ) from exc
    return module


def _module_values(module: ModuleType) -> dict[str, Any]:
    # Django's rule: only upper-case names are settings; helpers and imports are not.
    return {name: getattr(module, name) for name in dir(module) if name.isupper()}


def _module_dir(module: ModuleType) -> Path | None:
    file = getattr(module, "__file__", None)
    return Path(file).resolve().parent if file else None


def _yaml_values(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ImproperlyConfigured(f"Settings file {str(path)!r} does not exist.") from None
    except OSError as exc:
        raise ImproperlyConfigured(f"Cannot read settings file {str(path)!r}: {exc}") from exc
    import yaml  # here: only YAML settings pay for PyYAML's import

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ImproperlyConfigured(f"Settings file {str(path)!r} is not valid YAML: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ImproperlyConfigured(
            f"Settings file {str(path)!r} must hold a mapping of setting names to values "
            f"at the top level, not a {type(data).__name__}."
        )
    return data


def _build(values: dict[str, Any], origin: str, base_dir: Path | None) -> Settings:
    if base_dir is not None:
        values.setdefault("BASE_DIR", base_dir)
    provenance = Provenance(origin, *locate(values, base_dir))
    try:
        with tracing(provenance):
            settings = Settings(**values)
        settings._sources = provenance.sources
        return settings
    except ValidationError as exc:
        raise ImproperlyConfigured(
            f"Invalid {origin}: " + "; ".join(_describe(err) for err in exc.errors())
        ) from exc
    except SettingsError as exc:
        raise ImproperlyConfigured(f"Invalid {origin}: {exc}") from exc


def _describe(error: Mapping[str, Any]) -> str:
    loc = error.get("loc") or ()
    field = str(loc[0]) if loc else ""
    where = "".join(f"[{part!r}]" for part in loc[1:])
    message = str(error.get("msg", "invalid value")).removeprefix("Value error, ")
    if not field:
        return message
    env_name = ENV_PREFIX + field
    hint = f" (from environment variable {env_name})" if env_name in os.environ else ""
    got = error.get("input")
    shown = "" if error.get("type") == "value_error" else f", got {got!r}"
    return f"{field}{where}: {message}{shown}{hint}"

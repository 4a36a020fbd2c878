"""Where settings come from besides the settings file: the environment, a ``.env``
file and a secrets directory, each read through pydantic-settings, and a record
of which source gave each setting (for ``lback-mw settings --diff``).

Precedence, highest first: the process environment, the ``.env`` file, the
secrets directory, the settings file, the defaults.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from types import UnionType
from typing import Any, Union, get_args, get_origin

from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    DotEnvSettingsSource,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SecretsSettingsSource,
)

from .exceptions import ImproperlyConfigured

ENV_PREFIX = "LBACK_"
#: The environment variable naming the settings source; never read as a setting.
SETTINGS_ENV_VAR = "LBACK_SETTINGS"
#: The environment variable naming the ``.env`` file (``lback-mw --env-file`` sets it).
ENV_FILE_ENV_VAR = "LBACK_ENV_FILE"


def env_list(value: str, variable: str) -> list[Any]:
    """A list from the text of an environment variable: the one rule for every list setting.

    JSON when it starts with ``[`` (``'["example.com", "www.example.com"]'``, needed
    for items that are not strings, like a ``MIDDLEWARES`` dict entry); otherwise a
    comma-separated list, items stripped and empty ones dropped
    (``example.com, www.example.com``; an empty value is an empty list).
    """
    text = value.strip()
    if not text.startswith("["):
        return [item.strip() for item in text.split(",") if item.strip()]
    try:
        items = json.loads(text)
    except ValueError as exc:
        raise ImproperlyConfigured(
            f"{variable} starts with '[' but is not a JSON list ({exc}): give a JSON "
            """list such as '["example.com", "www.example.com"]', or a comma-separated """
            "list such as 'example.com,www.example.com'."
        ) from None
    assert isinstance(items, list)  # valid JSON that starts with '[' is an array
    return items


def env_dict(value: str, variable: str) -> dict[str, Any]:
    """A mapping from the text of an environment variable: a JSON object."""
    try:
        data = json.loads(value)
    except ValueError as exc:
        problem = f"not valid JSON ({exc})"
    else:
        if isinstance(data, dict):
            return data
        problem = f"JSON {type(data).__name__}, not an object"
    raise ImproperlyConfigured(
        f"{variable} must be a JSON object, such as "
        f"""'{{"cache": "myproject.cache.make_cache"}}'; got {value!r:.80}, {problem}."""
    )


class _ListsAndDicts(EnvSettingsSource):
    """Lists and dicts read by :func:`env_list` and :func:`env_dict` instead of
    pydantic-settings' JSON only, whose error names neither the variable nor the
    form it expects."""

    #: Where the variables are read, for the error messages.
    where = ""

    def decode_complex_value(self, field_name: str, field: FieldInfo, value: Any) -> Any:
        variable = f"{self.env_prefix}{field_name}{self.where}"
        kind = get_origin(field.annotation) or field.annotation
        if kind in (Union, UnionType):  # list[str] | None: the list is what is given
            kind = next(get_origin(arg) or arg for arg in get_args(field.annotation))
        if kind is list:
            return env_list(value, variable)
        if kind is dict:
            return env_dict(value, variable)
        return super().decode_complex_value(field_name, field, value)


class EnvSource(_ListsAndDicts):
    """``LBACK_<NAME>`` in the process environment, for the declared settings."""


class DotEnvSource(_ListsAndDicts, DotEnvSettingsSource):
    """``LBACK_<NAME>`` lines of the ``.env`` file, for the declared settings (the
    project's own names come from an :class:`ExtraEnvSource` over the same file)."""

    def __init__(self, settings_cls: type[BaseSettings], env_file: Path) -> None:
        super().__init__(settings_cls, env_file=env_file)
        self.where = f" in {env_file}"

    def __call__(self) -> dict[str, Any]:
        return EnvSettingsSource.__call__(self)


class ExtraEnvSource(PydanticBaseSettingsSource):
    """``LBACK_<NAME>`` for project-defined names, which pydantic-settings skips.

    pydantic-settings only reads variables for declared fields; projects also
    override their own upper-case names (``LBACK_APP_CUSTOM_HEADER``). Their
    values stay strings: lback_mw does not know their types.
    """

    def __init__(
        self, settings_cls: type[BaseSettings], variables: Mapping[str, str | None]
    ) -> None:
        super().__init__(settings_cls)
        self._variables = variables

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        declared = set(self.settings_cls.model_fields)
        values: dict[str, Any] = {}
        for key, value in self._variables.items():
            if not key.startswith(ENV_PREFIX) or key == SETTINGS_ENV_VAR or value is None:
                continue
            name = key[len(ENV_PREFIX) :]
            if name.isupper() and name.isidentifier() and name not in declared:
                values[name] = value
        return values


class _Traced(PydanticBaseSettingsSource):
    """A source that records, in the build's :class:`Provenance`, what it gave."""

    def __init__(self, inner: PydanticBaseSettingsSource, describe: Callable[[str], str]) -> None:
        super().__init__(inner.settings_cls)
        self._inner = inner
        self._describe = describe

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        values = self._inner()
        provenance = _provenance.get()
        if provenance is not None:
            for name in values:
                # Sources run highest precedence first: the first to give a name won.
                provenance.sources.setdefault(name, self._describe(name))
        return values


class Provenance:
    """What one settings build reads besides the settings file, and where each value came from."""

    def __init__(self, origin: str, env_file: Path | None, secrets_dir: Path | None) -> None:
        self.origin = origin
        self.env_file = env_file
        self.secrets_dir = secrets_dir
        #: Setting name -> where its value came from; a setting absent has its default.
        self.sources: dict[str, str] = {}


_provenance: ContextVar[Provenance | None] = ContextVar("lback_mw_settings", default=None)


@contextmanager
def tracing(provenance: Provenance) -> Iterator[None]:
    """Build settings inside this block to fill ``provenance``."""
    token = _provenance.set(provenance)
    try:
        yield
    finally:
        _provenance.reset(token)


def sources(
    settings_cls: type[BaseSettings], init: PydanticBaseSettingsSource
) -> tuple[PydanticBaseSettingsSource, ...]:
    """Every source, highest precedence first, for ``settings_customise_sources``."""
    provenance = _provenance.get() or Provenance("settings", None, None)
    chain: list[PydanticBaseSettingsSource] = [
        _Traced(EnvSource(settings_cls), lambda name: f"environment variable {ENV_PREFIX}{name}"),
        _Traced(
            ExtraEnvSource(settings_cls, os.environ),
            lambda name: f"environment variable {ENV_PREFIX}{name}",
        ),
    ]
    env_file = provenance.env_file
    if env_file is not None:
        dotenv = DotEnvSource(settings_cls, env_file)
        chain.append(_Traced(dotenv, lambda name: f"{env_file} ({ENV_PREFIX}{name})"))
        chain.append(
            _Traced(
                ExtraEnvSource(settings_cls, dotenv.env_vars),
                lambda name: f"{env_file} ({ENV_PREFIX}{name})",
            )
        )
    secrets_dir = provenance.secrets_dir
    if secrets_dir is not None:
        chain.append(
            _Traced(
                SecretsSettingsSource(settings_cls, secrets_dir=secrets_dir),
                lambda name: f"secret file {secrets_dir / (ENV_PREFIX + name)}",
            )
        )
    chain.append(_Traced(init, lambda name: provenance.origin))
    return tuple(chain)


def locate(values: Mapping[str, Any], base_dir: Path | None) -> tuple[Path | None, Path | None]:
    """The ``.env`` file and the secrets directory a build reads, checked.

    ``ENV_FILE`` and ``SECRETS_DIR`` come from the environment (``LBACK_ENV_FILE``,
    set by ``--env-file``) or the settings file; relative paths are taken from
    the settings' directory. Without ``ENV_FILE``, a ``.env`` beside the settings
    is read if there is one.
    """
    env_file = _named_path("ENV_FILE", values, base_dir)
    if env_file is None:
        beside = base_dir / ".env" if base_dir is not None else None
        env_file = beside if beside is not None and beside.is_file() else None
    elif not env_file.is_file():
        raise ImproperlyConfigured(
            f"ENV_FILE is {str(env_file)!r}, which is not a file. Create it, or correct "
            f"the path (the {ENV_PREFIX}ENV_FILE variable, --env-file, or ENV_FILE in the "
            "settings file)."
        )
    secrets_dir = _named_path("SECRETS_DIR", values, base_dir)
    if secrets_dir is not None and not secrets_dir.is_dir():
        raise ImproperlyConfigured(
            f"SECRETS_DIR is {str(secrets_dir)!r}, which is not a directory. It holds one "
            f"file per setting, named like the variable ({ENV_PREFIX}SECRET_KEY), as "
            "Docker and Kubernetes mount secrets; create it or correct the path."
        )
    return env_file, secrets_dir


def _named_path(name: str, values: Mapping[str, Any], base_dir: Path | None) -> Path | None:
    raw = os.environ.get(ENV_PREFIX + name) or values.get(name)
    if not raw:
        return None
    path = Path(raw).expanduser()
    if not path.is_absolute() and base_dir is not None:
        path = base_dir / path
    return path

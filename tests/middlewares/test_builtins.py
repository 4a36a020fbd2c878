"""What every built-in shares: the short import path, a role in the recommended
order, and a documentation page."""

from __future__ import annotations

import inspect
import re
import subprocess
import sys
from pathlib import Path

import pytest

import lback_mw.middlewares as builtins
from lback_mw import BaseMiddleware
from lback_mw.checks import RECOMMENDED_ORDER, ROLE_NAMES

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

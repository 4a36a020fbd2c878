"""Every example in README.md and docs/*.md runs against the real code.

The fenced blocks of a Markdown file are handled in order:

* ```` ```python ```` blocks run in one namespace per file, so a later block
  uses what an earlier one defined. They run in a fresh temporary directory,
  which is also the current directory and the first entry of ``sys.path``.
* A block with a ``title="path"`` attribute (```` ```python title="myproject/settings.py" ````)
  shows a file: it is written to that path in the temporary directory instead of
  being run, so later blocks can import it or read it. Python files are compiled
  at once, YAML files parsed, and every Python file a page shows must have been
  imported by the page's code by the end.
* ```` ```yaml ```` blocks must parse; a settings document (one with
  ``MIDDLEWARES``) must also load through :func:`lback_mw.settings.load_settings`.
* ```` ```console ```` and other blocks are shown, never run.

Apps built by a page are closed afterwards, and the environment, ``sys.path``
and the modules a page imported from its directory are restored.
"""

from __future__ import annotations

import builtins
import os
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from lback_mw import App
from lback_mw.settings import load_settings

ROOT = Path(__file__).resolve().parent.parent
DOC_FILES = [*sorted((ROOT / "docs").rglob("*.md")), ROOT / "README.md"]

_FENCE = re.compile(r"^(?P<indent> {0,3})(?P<fence>`{3,}|~{3,})\s*(?P<info>[^`]*)$")
_TITLE = re.compile(r"""\btitle=(?:"([^"]*)"|'([^']*)'|(\S+))""")
_LINK = re.compile(r"\]\((?P<target>[^)\s]+)\)")


@dataclass
class Block:
    """One fenced code block of a Markdown file."""

    path: Path
    line: int  # of the opening fence, 1-based
    language: str
    title: str | None
    source: str

    @property
    def where(self) -> str:
        return f"{relative(self.path)}:{self.line}"


def relative(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def parse_blocks(path: Path, text: str | None = None) -> list[Block]:
    """The fenced blocks of a Markdown file, in order."""
    lines = (path.read_text(encoding="utf-8") if text is None else text).splitlines()
    blocks: list[Block] = []
    index = 0
    while index < len(lines):
        opening = _FENCE.match(lines[index])
        index += 1
        if opening is None:
            continue
        fence, indent = opening["fence"], len(opening["indent"])
        info = opening["info"].strip()
        language = info.split(maxsplit=1)[0].lower() if info else ""
        title = _TITLE.search(info)
        body: list[str] = []
        start = index
        while index < len(lines):
            line = lines[index]
            index += 1
            stripped = line.strip()
            if stripped.startswith(fence[0] * len(fence)) and not stripped.strip(fence[0]):
                break
            body.append(line[indent:] if not line[:indent].strip() else line.lstrip())
        else:
            raise AssertionError(f"{relative(path)}:{start}: unclosed code fence")
        blocks.append(
            Block(
                path=path,
                line=start,
                language=language,
                title=next((group for group in title.groups() if group), None) if title else None,
                source="\n".join(body) + "\n",
            )
        )
    return blocks


def write_file(root: Path, block: Block) -> Path:
    assert block.title is not None
    target = (root / block.title).resolve()
    assert target.is_relative_to(root), f"{block.where}: title {block.title!r} leaves the project"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(block.source, encoding="utf-8")
    for name, module in list(sys.modules.items()):  # a file shown again replaces the old one
        file = getattr(module, "__file__", None)
        if file and Path(file).resolve() == target:
            del sys.modules[name]
    return target


def is_settings_document(data: Any) -> bool:
    return isinstance(data, dict) and "MIDDLEWARES" in data


def load_yaml_settings(
    block: Block, data: dict[str, Any], directory: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Load a YAML settings document the way ``create_app`` reads a settings file."""
    if "SECRET_KEY" not in data:
        # The documented production practice: SECRET_KEY comes from the environment.
        monkeypatch.setenv("LBACK_SECRET_KEY", "docs-test-secret-key-from-the-environment")
    path = directory / f"settings_line_{block.line}.yaml"
    path.write_text(block.source, encoding="utf-8")
    load_settings(str(path))


@pytest.fixture
def sandbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[App]]:
    """A temporary project directory, and a list of every App built meanwhile."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    # A page may rewrite a file within the same second; never run a stale .pyc.
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    environ = dict(os.environ)
    modules = set(sys.modules)
    apps: list[App] = []
    original_init = App.__init__

    def recording_init(self: App, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        apps.append(self)

    monkeypatch.setattr(App, "__init__", recording_init)
    try:
        yield apps
    finally:
        for app in apps:
            app.close()
        for name in set(sys.modules) - modules:
            module = sys.modules[name]
            locations = [getattr(module, "__file__", None), *getattr(module, "__path__", [])]
            if any(loc and Path(loc).resolve().is_relative_to(tmp_path) for loc in locations):
                del sys.modules[name]
        os.environ.clear()
        os.environ.update(environ)


def failing_line(exc: BaseException, filename: str, block: Block) -> int:
    """The line of the Markdown file where ``exc`` was raised, inside ``block``."""
    line = 0
    traceback = exc.__traceback__
    while traceback is not None:
        if traceback.tb_frame.f_code.co_filename == filename:
            line = traceback.tb_lineno
        traceback = traceback.tb_next
    return block.line + line


def run_markdown(
    path: Path, root: Path, monkeypatch: pytest.MonkeyPatch, text: str | None = None
) -> None:
    """Run every block of one Markdown file, in order, in one namespace."""
    name = "docs_" + re.sub(r"\W", "_", path.stem)
    namespace: dict[str, Any] = {"__name__": name, "__builtins__": builtins}
    shown_modules: dict[Path, Block] = {}
    for block in parse_blocks(path, text):
        if block.title is not None:
            target = write_file(root, block)
            if block.language == "python":
                compile(block.source, block.where, "exec")
                shown_modules[target] = block
            elif block.language == "yaml":
                yaml.safe_load(block.source)
            sys.path_importer_cache.clear()
            continue
        if block.language == "python":
            code = compile(block.source, f"<{block.where}>", "exec")
            try:
                exec(code, namespace)
            except Exception as exc:
                raise AssertionError(
                    f"The python block at {block.where} failed on line "
                    f"{failing_line(exc, code.co_filename, block)}: {type(exc).__name__}: {exc}"
                ) from exc
        elif block.language == "yaml":
            data = yaml.safe_load(block.source)
            if is_settings_document(data):
                load_yaml_settings(block, data, root, monkeypatch)
    imported = {
        Path(file).resolve()
        for module in list(sys.modules.values())
        if (file := getattr(module, "__file__", None))
    }
    for target, block in shown_modules.items():
        assert target in imported, (
            f"{block.where}: the file {block.title!r} is shown but no example imports it; "
            "add an example that uses it, so the page cannot drift from the code."
        )


# -- the pages -------------------------------------------------------------------


@pytest.mark.parametrize("path", DOC_FILES, ids=relative)
def test_examples_run(
    path: Path, sandbox: list[App], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_markdown(path, tmp_path, monkeypatch)


def _yaml_blocks() -> list[Any]:
    return [
        pytest.param(block, id=block.where)
        for path in DOC_FILES
        for block in parse_blocks(path)
        if block.language == "yaml"
    ]


@pytest.mark.parametrize("block", _yaml_blocks())
def test_yaml_blocks_load(block: Block, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = yaml.safe_load(block.source)
    if is_settings_document(data):
        load_yaml_settings(block, data, tmp_path, monkeypatch)


def anchors(path: Path) -> set[str]:
    """GitHub's anchors for the headings of a Markdown file (code blocks skipped)."""
    found: set[str] = set()
    fence: str | None = None
    for line in path.read_text(encoding="utf-8").splitlines():
        opening = _FENCE.match(line)
        if opening is not None and (fence is None or not opening["info"].strip()):
            marker = opening["fence"]
            fence = marker if fence is None else (None if marker[0] == fence[0] else fence)
            continue
        if fence is None and (heading := re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)):
            text = heading[1].lower()
            found.add(re.sub(r"[^\w\- ]", "", text).replace(" ", "-"))
    return found


@pytest.mark.parametrize("path", DOC_FILES, ids=relative)
def test_relative_links_resolve(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    for match in _LINK.finditer(text):
        target, _, anchor = match["target"].partition("#")
        if "://" in target or target.startswith("mailto:"):
            continue
        linked = (path.parent / target) if target else path
        assert linked.exists(), f"{relative(path)}: broken link {match['target']!r}"
        if anchor and linked.suffix == ".md":
            assert anchor in anchors(linked), (
                f"{relative(path)}: link {match['target']!r} names no heading of "
                f"{relative(linked.resolve())}"
            )


@pytest.mark.parametrize(
    ("index", "pattern"),
    [("README.md", "*.md"), ("docs/index.md", "**/*.md")],
    ids=["README.md", "docs/index.md"],
)
def test_every_page_is_linked(index: str, pattern: str) -> None:
    """The README links every top-level page; docs/index.md every page of docs/."""
    path = ROOT / index
    linked = {
        (path.parent / match["target"].split("#", 1)[0]).resolve()
        for match in _LINK.finditer(path.read_text(encoding="utf-8"))
    }
    pages = {page.resolve() for page in (ROOT / "docs").glob(pattern)} - {path.resolve()}
    missing = sorted(page.name for page in pages - linked)
    assert not missing, f"{index} does not link to: {', '.join(missing)}"


def test_readme_has_the_two_fresh_machine_commands() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert (
        "python3 -m venv .venv && .venv/bin/pip install -e . && "
        ".venv/bin/lback-mw run --settings example_project.settings"
    ) in readme
    assert (
        "python3 -m venv .venv && .venv/bin/pip install -e '.[dev]' && .venv/bin/python -m pytest"
    ) in readme


# -- the runner itself -------------------------------------------------------------

_SAMPLE = """\
# Sample

```python title="pkg/mod.py"
VALUE = 41
```

```python
from pkg.mod import VALUE
answer = VALUE + 1
```

```python
assert answer == 42
```

```console
$ this is not run
```
"""


def test_runner_shares_one_namespace_and_writes_titled_files(
    sandbox: list[App], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocks = parse_blocks(ROOT / "README.md", _SAMPLE)
    assert [(block.language, block.title, block.line) for block in blocks] == [
        ("python", "pkg/mod.py", 3),
        ("python", None, 7),
        ("python", None, 12),
        ("console", None, 16),
    ]
    run_markdown(ROOT / "README.md", tmp_path, monkeypatch, _SAMPLE)
    assert (tmp_path / "pkg" / "mod.py").read_text() == "VALUE = 41\n"


@pytest.mark.parametrize(
    ("sample", "message"),
    [
        pytest.param(
            _SAMPLE.replace("== 42", "== 43"), "failed on line 13: AssertionError", id="assertion"
        ),
        pytest.param(
            _SAMPLE.replace("VALUE + 1", "VALUE + None"),
            "failed on line 9: TypeError",
            id="exception",
        ),
        pytest.param(
            _SAMPLE.replace("from pkg.mod import VALUE", "VALUE = 41"),
            "no example imports it",
            id="unused file",
        ),
    ],
)
def test_runner_fails_when_an_example_breaks(
    sample: str, message: str, sandbox: list[App], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(AssertionError, match=message):
        run_markdown(ROOT / "README.md", tmp_path, monkeypatch, sample)


def test_runner_checks_yaml_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from lback_mw import ImproperlyConfigured

    sample = "```yaml\nDEBUG: true\nMIDDLEWARE: []\nMIDDLEWARES: []\n```\n"
    with pytest.raises(ImproperlyConfigured, match="Did you mean 'MIDDLEWARES'"):
        run_markdown(ROOT / "README.md", tmp_path, monkeypatch, sample)

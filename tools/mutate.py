"""Mutation testing for lback_mw: does a module's own test file notice when its code is wrong?

Usage (from the repository root, with the dev install)::

    .venv/bin/python tools/mutate.py lback_mw/pipeline.py        # one module
    .venv/bin/python tools/mutate.py --all                        # every configured module
    .venv/bin/python tools/mutate.py lback_mw/loader.py --line 84 # mutants of one line

Each mutant changes one thing: a comparison flipped (``==``/``!=``, ``<``/``>=``,
``is``/``is not``, ``in``/``not in``), ``and``/``or`` swapped, a ``not`` removed, a
returned value replaced by ``None``, a call statement or a ``raise`` deleted, an
integer literal moved by one either way. The tests to run per module are the
``[tool.lback_mw.mutate]`` table of pyproject.toml.

A mutant is *killed* when the tests fail (or exceed the time limit), *survived*
when they pass. Cheapest first, so a module takes minutes on a shared machine:

1. One traced run records which tests execute each line of the module.
2. One pytest session collects once; per mutant inside a function body, a forked
   child swaps in that function's mutated code object and runs the tests that
   executed the mutated lines, fastest first, with ``-x``.
3. The rest, and step 2's survivors, load the mutated module through an import
   hook in a forked child of this process (third-party imports done, the
   project not): those tests, then the whole test files.
4. If the tests start Python subprocesses (gunicorn, ``lback-mw``), which read
   the module from disk, a survivor is written into a copy of the repository
   and the files run there in a fresh interpreter.

A mutant that cannot change behaviour is marked with a comment saying why, on its
line or on a comment line just above, naming the one mutant if others on that line
can be killed::

    # mutation: equivalent "1 -> 2 at col 31" - one entry more is never indexed
    for entered in range(size + 1)

Such mutants are counted as *equivalent*, not run, and left out of the score.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import copy
import importlib.abc
import importlib.util
import inspect
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import tomllib
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import CodeType, FrameType, FunctionType, ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PYTEST_ARGS = ("-x", "-q", "-p", "no:cacheprovider")
EQUIVALENT = re.compile(r'#\s*mutation:\s*equivalent\b(?:\s*"(?P<only>[^"]+)")?')
#: Imported once here, so each forked child starts with them loaded (the project is not).
WARM_IMPORTS = (
    "pytest",
    "werkzeug",
    "werkzeug.test",
    "werkzeug.routing",
    "pydantic",
    "pydantic_settings",
    "sqlalchemy",
    "redis",
    "itsdangerous",
    "jinja2",
    "click",
    "yaml",
    "prometheus_client",
)
_FLIPPED: dict[type[ast.cmpop], type[ast.cmpop]] = {
    ast.Eq: ast.NotEq,
    ast.NotEq: ast.Eq,
    ast.Lt: ast.GtE,
    ast.GtE: ast.Lt,
    ast.Gt: ast.LtE,
    ast.LtE: ast.Gt,
    ast.Is: ast.IsNot,
    ast.IsNot: ast.Is,
    ast.In: ast.NotIn,
    ast.NotIn: ast.In,
}


@dataclass(frozen=True)
class Mutant:
    """One change: the ``index``-th mutation point of the module, in source order."""

    index: int
    line: int
    end_line: int
    description: str
    #: Qualified name of the function whose body holds the change (``None``: module
    #: or class level), so the change can be made by swapping that one code object.
    function: str | None = None


class _Mutator(ast.NodeTransformer):
    """Lists the mutation points of a tree, or applies the one numbered ``target``.

    The walk order is fixed (``generic_visit`` order), so a point's number is the
    same in the listing pass and in the applying pass over a fresh parse.
    """

    def __init__(self, target: int | None = None) -> None:
        self.target = target
        self.found: list[Mutant] = []
        self._scopes: list[tuple[str, str]] = []  # ("class" or "def", name), outermost first

    def _point(self, node: ast.AST, description: str) -> bool:
        """Record a mutation point; true if it is the one to apply."""
        index = len(self.found)
        line = getattr(node, "lineno", 0)
        end = getattr(node, "end_lineno", line)
        self.found.append(Mutant(index, line, end, description, self._function_name()))
        return index == self.target

    def _function_name(self) -> str | None:
        names = []
        for kind, name in self._scopes:
            names.append(name)
            if kind == "def":
                return ".".join(names)
        return None

    def _body(self, kind: str, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) -> None:
        self._scopes.append((kind, node.name))
        node.body = [self.visit(statement) for statement in node.body]
        self._scopes.pop()

    def visit_ClassDef(self, node: ast.ClassDef) -> ast.AST:
        # The fields in generic_visit's order, so the numbering matches it.
        node.bases = [self.visit(base) for base in node.bases]
        node.keywords = [self.visit(keyword) for keyword in node.keywords]
        self._body("class", node)
        node.decorator_list = [self.visit(decorator) for decorator in node.decorator_list]
        return node

    def visit_AnnAssign(self, node: ast.AnnAssign) -> ast.AST:
        # Annotations are never evaluated (``from __future__ import annotations``).
        if node.value is not None:
            node.value = self.visit(node.value)
        return node

    def visit_arg(self, node: ast.arg) -> ast.AST:
        return node  # an annotation only

    def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.AST:
        return self._function(node)

    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> ast.AST:
        return self._function(node)

    def _function(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> ast.AST:
        # generic_visit's order; the return annotation is never evaluated.
        node.args = self.visit(node.args)
        self._body("def", node)
        node.decorator_list = [self.visit(decorator) for decorator in node.decorator_list]
        return node

    def visit_Compare(self, node: ast.Compare) -> ast.AST:
        self.generic_visit(node)
        for position, op in enumerate(node.ops):
            flipped = _FLIPPED[type(op)]
            if self._point(node, f"{type(op).__name__} -> {flipped.__name__}"):
                node.ops[position] = flipped()
        return node

    def visit_BoolOp(self, node: ast.BoolOp) -> ast.AST:
        self.generic_visit(node)
        swapped: ast.boolop = ast.Or() if isinstance(node.op, ast.And) else ast.And()
        if self._point(node, f"{type(node.op).__name__} -> {type(swapped).__name__}"):
            node.op = swapped
        return node

    def visit_UnaryOp(self, node: ast.UnaryOp) -> ast.AST:
        self.generic_visit(node)
        if isinstance(node.op, ast.Not) and self._point(node, "not removed"):
            return node.operand
        return node

    def visit_Return(self, node: ast.Return) -> ast.AST:
        self.generic_visit(node)
        value = node.value
        if value is None or (isinstance(value, ast.Constant) and value.value is None):
            return node
        if self._point(node, "return value -> None"):
            node.value = ast.Constant(None)
        return node

    def visit_Expr(self, node: ast.Expr) -> ast.AST:
        self.generic_visit(node)
        if isinstance(node.value, ast.Call) and self._point(node, "call deleted"):
            return ast.Pass()
        return node

    def visit_Raise(self, node: ast.Raise) -> ast.AST:
        self.generic_visit(node)
        if self._point(node, "raise deleted"):
            return ast.Pass()
        return node

    def visit_Constant(self, node: ast.Constant) -> ast.AST:
        if type(node.value) is not int:  # bools are ints too; leave them
            return node
        replacement = node
        for step in (1, -1):  # the column tells two literals of one line apart
            change = f"{node.value} -> {node.value + step} at col {node.col_offset}"
            if self._point(node, change):
                replacement = ast.Constant(node.value + step)
        return replacement


def list_mutants(source: str, path: str) -> list[Mutant]:
    mutator = _Mutator()
    mutator.visit(ast.parse(source, path))
    return mutator.found


def mutated_tree(source: str, path: str, index: int | None) -> ast.Module:
    """The module with mutant ``index`` applied (``None``: as written, through the same path)."""
    tree = ast.parse(source, path)
    _Mutator(index).visit(tree)  # changes the tree in place: the module node stays
    return ast.fix_missing_locations(tree)


def equivalent_marks(source: str) -> dict[int, str | None]:
    """Line -> the one mutant description marked equivalent there, or ``None`` for all.

    A marker applies to its own line, or from a comment-only line to the next one.
    """
    marks: dict[int, str | None] = {}
    for number, text in enumerate(source.splitlines(), 1):
        match = EQUIVALENT.search(text)
        if match is not None:
            own_line = text.lstrip().startswith("#")
            marks[number + 1 if own_line else number] = match["only"]
    return marks


def is_equivalent(mutant: Mutant, marks: dict[int, str | None]) -> bool:
    if mutant.line not in marks:
        return False
    only = marks[mutant.line]
    return only is None or only == mutant.description


def module_name(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts)


class _MutantFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Serves the mutated code for one module name; every other import is untouched."""

    def __init__(self, name: str, path: str, tree: ast.Module) -> None:
        self.name, self.path, self.tree = name, path, tree

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        if fullname != self.name:
            return None
        return importlib.util.spec_from_file_location(fullname, self.path, loader=self)

    def create_module(self, spec: Any) -> None:
        return None

    def exec_module(self, module: ModuleType) -> None:
        exec(compile(self.tree, self.path, "exec"), module.__dict__)


def _in_child(work: Any, timeout: float, log: Path) -> int:
    """Run ``work()`` in a forked child; its exit status, or -1 on timeout."""
    sys.stdout.flush()
    pid = os.fork()
    if pid == 0:  # the child: output to the log, never back into this process
        code = 3
        try:
            os.setpgid(0, 0)  # a timeout then ends this child and any server it started
            fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
            os.dup2(fd, 1)
            os.dup2(fd, 2)
            code = int(work())
        except BaseException:
            traceback.print_exc()
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.05)
    os.killpg(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    return -1


def _run_pytest(args: Sequence[str], finder: _MutantFinder | None = None) -> int:
    import pytest

    if finder is not None:
        sys.meta_path.insert(0, finder)
    return int(pytest.main([*PYTEST_ARGS, *args], plugins=[_NoShrinking()]))


class _NoShrinking:
    """pytest plugin: hypothesis reports the first failing example, unshrunk.

    A mutant is killed by any failure; shrinking it to the simplest example
    would cost most of the run.
    """

    def pytest_configure(self, config: Any) -> None:
        try:
            from hypothesis import Phase, settings
        except ImportError:
            return
        phases = (Phase.explicit, Phase.reuse, Phase.generate)
        settings.register_profile("mutate", phases=phases, database=None)
        settings.load_profile("mutate")


def _code_named(code: CodeType, qualname: str) -> CodeType | None:
    """The code object compiled for the function ``qualname``, found among the constants."""
    for const in code.co_consts:
        if isinstance(const, CodeType):
            if const.co_qualname == qualname:
                return const
            found = _code_named(const, qualname)
            if found is not None:
                return found
    return None


def _function_named(module: ModuleType, qualname: str) -> FunctionType | None:
    """The live function ``qualname`` of ``module`` (through static/class methods, properties)."""
    obj: Any = module
    for name in qualname.split("."):
        obj = inspect.getattr_static(obj, name, None)
        if isinstance(obj, staticmethod | classmethod):
            obj = obj.__func__
        elif isinstance(obj, property):
            obj = obj.fget
    if isinstance(obj, FunctionType) and obj.__code__.co_qualname == qualname:
        return obj
    return None


class _Worker:
    """pytest plugin: collect once, then run each mutant in a forked child that swaps in
    the mutated code of one function, so a mutant costs its tests and nothing more.

    Every reference to the function (a test's ``from x import f``, a bound method)
    sees the swapped code; changes outside function bodies go the slow way.
    """

    def __init__(
        self,
        name: str,
        path: Path,
        source: str,
        jobs: list[tuple[Mutant, list[str]]],
        timeout: float,
        logs: Path,
    ) -> None:
        self.name, self.path, self.source = name, path, source
        self.jobs, self.timeout, self.logs = jobs, timeout, logs
        self.results: dict[int, int] = {}

    def pytest_runtestloop(self, session: Any) -> bool:
        from _pytest.runner import runtestprotocol

        items = {item.nodeid: item for item in session.items}
        module = sys.modules[self.name]
        for mutant, tests in self.jobs:
            assert mutant.function is not None
            tree = mutated_tree(self.source, str(self.path), mutant.index)
            code = _code_named(compile(tree, str(self.path), "exec"), mutant.function)
            function = _function_named(module, mutant.function)
            selected = [items[test] for test in tests if test in items]
            if code is None or function is None or not selected:
                continue  # left to the slow way
            if len(code.co_freevars) != len(function.__code__.co_freevars):
                continue

            def work(
                f: FunctionType = function, c: CodeType = code, run: list[Any] = selected
            ) -> int:
                f.__code__ = c
                for item, nextitem in zip(run, [*run[1:], None], strict=True):
                    for report in runtestprotocol(item, nextitem=nextitem, log=False):
                        if report.failed:  # the log says which test killed it, and how
                            print(f"{report.nodeid} ({report.when}):\n{report.longreprtext}")
                            return 1
                return 0

            log = self.logs / f"mutant-{mutant.index}.log"
            self.results[mutant.index] = _in_child(work, self.timeout, log)
        return True


def _run_worker(worker: _Worker, tests: Sequence[str], out: Path) -> int:
    import pytest

    pytest.main(["-q", "-p", "no:cacheprovider", *tests], plugins=[worker, _NoShrinking()])
    out.write_text(json.dumps(worker.results))
    return 0


class _LineTracer:
    """pytest plugin: which tests run each line of one file (and which run at import)."""

    def __init__(self, filename: str) -> None:
        self.filename = filename
        self.current = "<import>"
        self.lines: dict[int, set[str]] = {}
        self.durations: dict[str, float] = {}

    def trace(self, frame: FrameType, event: str, arg: Any) -> Any:
        if frame.f_code.co_filename != self.filename:
            return None
        self.lines.setdefault(frame.f_lineno, set()).add(self.current)
        return self._local

    def _local(self, frame: FrameType, event: str, arg: Any) -> Any:
        if event == "line":
            self.lines.setdefault(frame.f_lineno, set()).add(self.current)
        return self._local

    def pytest_runtest_protocol(self, item: Any) -> None:
        self.current = item.nodeid

    def pytest_runtest_logreport(self, report: Any) -> None:
        self.durations[report.nodeid] = self.durations.get(report.nodeid, 0.0) + report.duration

    def pytest_runtest_logfinish(self) -> None:
        self.current = "<import>"


def _trace_lines(finder: _MutantFinder, tests: Sequence[str], out: Path) -> int:
    """The unmutated run, through the import hook too: proof that the hook itself breaks nothing."""
    import threading

    import pytest

    sys.meta_path.insert(0, finder)
    tracer = _LineTracer(finder.path)
    spawned: list[str] = []
    popen_init = subprocess.Popen.__init__

    def recording_init(self: Any, args: Any, *rest: Any, **kwargs: Any) -> None:
        spawned.append(str(args))
        popen_init(self, args, *rest, **kwargs)

    subprocess.Popen.__init__ = recording_init  # type: ignore[method-assign]
    sys.settrace(tracer.trace)
    threading.settrace(tracer.trace)
    code = int(pytest.main([*PYTEST_ARGS, *tests], plugins=[tracer]))
    sys.settrace(None)
    # A subprocess that may run the project (gunicorn, lback-mw, python) would run
    # the module from disk, where the import hook cannot reach.
    spawns = any(re.search(r"python|lback|gunicorn", command) for command in spawned)
    lines = {str(k): sorted(v) for k, v in tracer.lines.items()}
    trace = {"lines": lines, "spawns": spawns, "durations": tracer.durations}
    out.write_text(json.dumps(trace))
    return code


def _confirm(path: Path, tree: ast.Module, tests: Sequence[str], timeout: float) -> int:
    """Run the whole test files against the mutant on disk, in a copy of the repository."""
    with tempfile.TemporaryDirectory(prefix="mutant-") as tmp:
        copy_root = Path(tmp) / "repo"
        shutil.copytree(
            ROOT,
            copy_root,
            ignore=shutil.ignore_patterns(".venv", ".git", "__pycache__", "*.egg-info", ".*cache"),
        )
        (copy_root / path.relative_to(ROOT)).write_text(ast.unparse(tree) + "\n")
        env = {**os.environ, "PYTHONPATH": str(copy_root), "PYTHONDONTWRITEBYTECODE": "1"}
        command = [sys.executable, "-m", "pytest", *PYTEST_ARGS, *tests]
        try:
            return subprocess.run(
                command,
                cwd=copy_root,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                timeout=timeout,
                start_new_session=True,
            ).returncode
        except subprocess.TimeoutExpired:
            return -1


@dataclass
class Result:
    mutant: Mutant
    status: str  # killed, survived, equivalent


def mutate_module(
    path: Path, tests: list[str], wanted: Callable[[Mutant], bool], verbose: bool
) -> Iterator[Result]:
    source = path.read_text()
    name = module_name(path)
    marks = equivalent_marks(source)
    logs = Path(tempfile.mkdtemp(prefix="mutate-logs-"))
    started = time.monotonic()
    trace_file = logs / "lines.json"
    unmutated = _MutantFinder(name, str(path), mutated_tree(source, str(path), None))
    baseline = _in_child(
        lambda: _trace_lines(unmutated, tests, trace_file), 1800, logs / "baseline.log"
    )
    if baseline != 0:
        sys.exit(f"{path}: the tests fail without any mutant (see {logs / 'baseline.log'}).")
    # Tracing slows the run several times over, so this limit is generous.
    timeout = max(60.0, 3 * (time.monotonic() - started))
    trace = json.loads(trace_file.read_text())
    lines = {int(k): set(v) for k, v in trace["lines"].items()}
    durations: dict[str, float] = trace["durations"]
    mutants = [m for m in list_mutants(source, str(path)) if wanted(m)]

    def selected_tests(mutant: Mutant) -> list[str]:
        """The tests that ran the mutant's lines, fastest first; [] for import-time lines."""
        selected: set[str] = set()
        for line in range(mutant.line, mutant.end_line + 1):
            selected |= lines.get(line, set())
        if "<import>" in selected:
            return []
        return sorted(selected, key=lambda test: durations.get(test, 0.0))

    jobs = [
        (m, selected_tests(m))
        for m in mutants
        if m.function is not None and not is_equivalent(m, marks) and selected_tests(m)
    ]
    worker = _Worker(name, path, source, jobs, timeout, logs)
    results_file = logs / "worker.json"
    _in_child(lambda: _run_worker(worker, tests, results_file), 4 * 3600, logs / "worker.log")
    fast = {int(k): v for k, v in json.loads(results_file.read_text()).items()}
    for mutant in mutants:
        if is_equivalent(mutant, marks):
            yield Result(mutant, "equivalent")
            continue
        if fast.get(mutant.index, 0) != 0:
            yield Result(mutant, "killed")
            if verbose:
                print(f"  {path}:{mutant.line} #{mutant.index}: {mutant.description}: killed")
            continue
        tree = mutated_tree(source, str(path), mutant.index)
        log = logs / f"mutant-{mutant.index}.log"
        # Then through the import hook: the tests that ran these lines (unless the
        # fast pass ran them already), every test, and on disk if needed.
        runs: list[Sequence[str]] = [tests]
        selected = selected_tests(mutant)
        if selected and mutant.index not in fast:
            runs.insert(0, selected)
        code = 0
        for chosen in runs:
            finder = _MutantFinder(name, str(path), copy.deepcopy(tree))
            code = _in_child(lambda f=finder, c=chosen: _run_pytest(c, f), timeout, log)
            if code != 0:
                break
        if code == 0 and trace["spawns"]:
            code = _confirm(path, tree, tests, timeout)
        yield Result(mutant, "survived" if code == 0 else "killed")
        if verbose:
            outcome = "killed" if code else "SURVIVED"
            print(f"  {path}:{mutant.line} #{mutant.index}: {mutant.description}: {outcome}")
    shutil.rmtree(logs, ignore_errors=True)


def load_config() -> dict[str, list[str]]:
    with (ROOT / "pyproject.toml").open("rb") as file:
        table = tomllib.load(file)["tool"]["lback_mw"]["mutate"]
    return {module: list(tests) for module, tests in table["modules"].items()}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("modules", nargs="*", help="module paths, as in pyproject.toml")
    parser.add_argument("--all", action="store_true", help="every configured module")
    parser.add_argument("--line", type=int, help="only the mutants of this line")
    parser.add_argument(
        "--mutant", type=int, action="append", help="only the mutant of this number (repeatable)"
    )
    parser.add_argument("--list", action="store_true", help="list the mutants, run nothing")
    parser.add_argument("-v", "--verbose", action="store_true", help="print every mutant")
    args = parser.parse_args(argv)
    os.chdir(ROOT)
    config = load_config()
    modules = list(config) if args.all else args.modules
    unknown = [m for m in modules if m not in config]
    if unknown or not modules:
        parser.error(
            f"name modules from [tool.lback_mw.mutate.modules] in pyproject.toml "
            f"({', '.join(config)}), or pass --all; got {unknown or 'none'}."
        )
    if args.list:
        for module in modules:
            for mutant in list_mutants((ROOT / module).read_text(), module):
                print(f"{module}:{mutant.line} #{mutant.index}: {mutant.description}")
        return 0
    for module in WARM_IMPORTS:
        with contextlib.suppress(ImportError):  # an optional extra not installed
            __import__(module)
    if any(name == "lback_mw" or name.startswith("lback_mw.") for name in sys.modules):
        sys.exit("lback_mw was imported before the mutants; check WARM_IMPORTS.")

    def wanted(mutant: Mutant) -> bool:
        if args.line is not None and not mutant.line <= args.line <= mutant.end_line:
            return False
        return args.mutant is None or mutant.index in args.mutant

    table: list[tuple[str, int, int, int]] = []
    for module in modules:
        print(f"{module} (tests: {' '.join(config[module])})", flush=True)
        results = list(mutate_module(ROOT / module, config[module], wanted, args.verbose))
        killed = sum(r.status == "killed" for r in results)
        survived = [r for r in results if r.status == "survived"]
        equivalent = sum(r.status == "equivalent" for r in results)
        for result in survived:
            mutant = result.mutant
            print(f"  survived {module}:{mutant.line} #{mutant.index}: {mutant.description}")
        table.append((module, killed, len(survived), equivalent))
    print(f"\n{'module':<32} {'killed':>7} {'survived':>9} {'equivalent':>11} {'score':>7}")
    for module, killed, survived_count, equivalent in table:
        total = killed + survived_count
        score = f"{100 * killed / total:.1f}%" if total else "-"
        print(f"{module:<32} {killed:>7} {survived_count:>9} {equivalent:>11} {score:>7}")
    return 1 if any(row[2] for row in table) else 0


if __name__ == "__main__":
    sys.exit(main())

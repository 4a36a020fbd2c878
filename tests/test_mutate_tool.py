"""tools/mutate.py: the mutants it makes, and the equivalent-mutant markers it honours."""

from __future__ import annotations

import ast
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

TOOL = Path(__file__).resolve().parent.parent / "tools" / "mutate.py"

SOURCE = '''"""A module docstring: 1 and print() in prose are not code."""
from __future__ import annotations

LIMIT: int = 3


def check(value: int, items: list[int]) -> bool:
    """Docstring."""
    if value < LIMIT and value not in items:
        print(value)
        return True
    if not items:
        raise ValueError("empty")
    return value is None
'''


@pytest.fixture(scope="module")
def mutate() -> ModuleType:
    spec = importlib.util.spec_from_file_location("mutate_tool", TOOL)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["mutate_tool"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_every_operator_makes_its_mutants_in_source_order(mutate: ModuleType) -> None:
    found = [(m.line, m.description) for m in mutate.list_mutants(SOURCE, "m.py")]
    assert found == [
        (4, "3 -> 4 at col 13"),
        (4, "3 -> 2 at col 13"),
        (9, "Lt -> GtE"),
        (9, "NotIn -> In"),
        (9, "And -> Or"),
        (10, "call deleted"),
        (11, "return value -> None"),
        (12, "not removed"),
        (13, "raise deleted"),
        (14, "Is -> IsNot"),
        (14, "return value -> None"),
    ]


def test_a_mutated_tree_differs_in_exactly_its_one_change(mutate: ModuleType) -> None:
    original = ast.unparse(ast.parse(SOURCE))
    for mutant in mutate.list_mutants(SOURCE, "m.py"):
        changed = ast.unparse(mutate.mutated_tree(SOURCE, "m.py", mutant.index))
        differing = [
            line
            for line, (a, b) in enumerate(
                zip(original.splitlines(), changed.splitlines(), strict=True), 1
            )
            if a != b
        ]
        assert len(differing) == 1, mutant
    assert ast.unparse(mutate.mutated_tree(SOURCE, "m.py", None)) == original
    flipped = ast.unparse(mutate.mutated_tree(SOURCE, "m.py", 4))
    assert "if value < LIMIT or value not in items:" in flipped


def test_equivalent_markers_cover_their_line_or_the_next_one(mutate: ModuleType) -> None:
    source = (
        "A = 1  # mutation: equivalent - any value works\n"
        '# mutation: equivalent "2 -> 3 at col 10" - never read past 2\n'
        "B = range(2)\n"
    )
    marks = mutate.equivalent_marks(source)
    assert marks == {1: None, 3: "2 -> 3 at col 10"}
    verdicts = {
        (m.line, m.description): mutate.is_equivalent(m, marks)
        for m in mutate.list_mutants(source, "m.py")
    }
    assert verdicts == {
        (1, "1 -> 2 at col 4"): True,
        (1, "1 -> 0 at col 4"): True,
        (3, "2 -> 3 at col 10"): True,
        (3, "2 -> 1 at col 10"): False,
    }


def test_every_configured_module_and_test_file_exists(mutate: ModuleType) -> None:
    config = mutate.load_config()
    assert "lback_mw/pipeline.py" in config
    for module, tests in config.items():
        assert (mutate.ROOT / module).is_file(), module
        assert tests, module
        for test in tests:
            assert (mutate.ROOT / test).is_file(), test


def test_mutants_in_a_function_body_name_the_function_to_swap(mutate: ModuleType) -> None:
    source = (
        "class Box:\n"
        "    SIZE = 2\n"
        "    def fits(self, n: int = 1) -> bool:\n"
        "        return n < self.SIZE\n"
    )
    found = {(m.description, m.function) for m in mutate.list_mutants(source, "m.py")}
    assert found == {
        ("2 -> 3 at col 11", None),  # a class attribute: no function to swap
        ("2 -> 1 at col 11", None),
        ("1 -> 2 at col 28", None),  # a default, evaluated when the class is built
        ("1 -> 0 at col 28", None),
        ("Lt -> GtE", "Box.fits"),
        ("return value -> None", "Box.fits"),
    }

"""What each built-in of the full recommended stack adds to a page, in-process.

Run from the repository root::

    python bench/stack_layers.py            # ~30 s
    python bench/stack_layers.py --quick    # a smoke run

The stateful page of ``bench/full_stack.py`` (``/page``: the session read, the user
asked for, a CSRF token made; with the cookies a first visit to ``/start`` set) is
timed under the session, CSRF and authentication middleware alone, then with the
other built-ins of ``FULL_STATEFUL_STACK`` added one at a time, outermost first. Each
figure is what one more built-in costs: the difference between two neighbouring
stacks, computed within each run and its median taken, so the figures add up to the
whole stack's cost above the stateful three. A built-in's own figure includes the
longer header list its work leaves for the built-ins outside it to scan.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    # Run as ``python bench/stack_layers.py``: make ``bench`` importable.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import scenarios
from bench.runner import Case, FigureSpec, main

#: The page's answer: nobody logged in, the session's one visit, a masked token.
PAGE_BODY = json.dumps(scenarios.page_data(1, False, "x" * 86), separators=(",", ":")).encode()


def _name(entry: Any) -> str:
    path: str = entry if isinstance(entry, str) else entry["class"]
    return path.rsplit(".", 1)[1]


def _case(key: str, description: str, middleware: list[Any]) -> Case:
    return Case(
        key,
        description,
        lambda: scenarios.lback_stateful(middleware),
        "/page",
        scenarios.STACK_REQUEST,
        PAGE_BODY,
        cookies_from="/start",
    )


OUTER = scenarios.FULL_STACK
CASES = [
    _case("state", "session, CSRF and auth only", scenarios.STATE_MIDDLEWARE),
    *(
        _case(
            f"outer{count}",
            f"+ {_name(OUTER[count - 1])}",
            [*OUTER[:count], *scenarios.STATE_MIDDLEWARE],
        )
        for count in range(1, len(OUTER) + 1)
    ),
]


def _added(count: int) -> FigureSpec:
    before = "state" if count == 1 else f"outer{count - 1}"
    return FigureSpec(
        f"adds_{_name(OUTER[count - 1])}",
        _name(OUTER[count - 1]),
        lambda t: t[f"outer{count}"] - t[before],
        "us",
    )


FIGURES = [
    *(_added(count) for count in range(1, len(OUTER) + 1)),
    FigureSpec(
        "outer_total",
        "all of them",
        lambda t: t[f"outer{len(OUTER)}"] - t["state"],
        "us",
    ),
]

TITLE = "What each built-in adds to the stateful page, in-process, microseconds per request"

if __name__ == "__main__":
    sys.exit(main(TITLE, CASES, FIGURES, packages=("werkzeug",)))

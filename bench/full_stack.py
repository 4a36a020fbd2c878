"""The built-in HTTP middleware stack against Django's equivalent, on a small JSON answer.

Run from the repository root::

    python bench/full_stack.py            # ~10 s
    python bench/full_stack.py --quick    # a smoke run

Every scenario answers ``GET https://localhost/api/items`` (sent from an allowed
CORS origin, accepting gzip) with the same small JSON body; see
``bench/scenarios.py`` for the stacks.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if __package__ in (None, ""):
    # Run as ``python bench/full_stack.py``: make ``bench`` importable.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import scenarios
from bench.runner import Case, FigureSpec, main

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication


def _stack_case(key: str, description: str, build: Callable[[], WSGIApplication]) -> Case:
    return Case(key, description, build, "/api/items", scenarios.STACK_REQUEST, scenarios.JSON_BODY)


def _stateful_case(
    key: str, description: str, build: Callable[[], WSGIApplication], token_length: int
) -> Case:
    data = scenarios.page_data(1, False, "x" * token_length)
    body = json.dumps(data, separators=(",", ":")).encode()
    return Case(
        key, description, build, "/page", scenarios.STACK_REQUEST, body, cookies_from="/start"
    )


CASES = [
    _stack_case("lback_bare", "lback_mw, no middleware", lambda: scenarios.lback_stack([])),
    _stack_case(
        "lback_equivalent",
        "lback_mw, Django-equivalent stack (5)",
        lambda: scenarios.lback_stack(scenarios.EQUIVALENT_STACK),
    ),
    _stack_case(
        "lback_full",
        "lback_mw, full HTTP stack (9)",
        lambda: scenarios.lback_stack(scenarios.FULL_STACK),
    ),
    _stack_case("django_bare", "django, no middleware", lambda: scenarios.django_app([])),
    _stack_case("django_stack", "django, Security+CORS+GZip+Common", scenarios.django_stack),
    _stateful_case(
        "lback_stateful",
        "lback_mw, equivalent + session/CSRF/auth (8)",
        lambda: scenarios.lback_stateful(scenarios.EQUIVALENT_STATEFUL_STACK),
        86,
    ),
    _stateful_case(
        "lback_full_stateful",
        "lback_mw, full stack + session/CSRF/auth (12)",
        lambda: scenarios.lback_stateful(scenarios.FULL_STATEFUL_STACK),
        86,
    ),
    _stateful_case(
        "django_stateful",
        "django, the 4 + Session/Csrf/Auth (7)",
        scenarios.django_stateful,
        64,
    ),
]

FIGURES = [
    FigureSpec(
        "full_over_django",
        "lback full (9) / django stack (4)",
        lambda t: t["lback_full"] / t["django_stack"],
        "x",
        0.3,
    ),
    FigureSpec(
        "full_stateful_over_django",
        "lback full+state (12) / django (7)",
        lambda t: t["lback_full_stateful"] / t["django_stateful"],
        "x",
        0.3,
    ),
    FigureSpec(
        "stateful_over_django",
        "lback equivalent+state (8) / django (7)",
        lambda t: t["lback_stateful"] / t["django_stateful"],
        "x",
    ),
    FigureSpec(
        "equivalent_over_django",
        "lback equivalent (5) / django stack (4)",
        lambda t: t["lback_equivalent"] / t["django_stack"],
        "x",
    ),
    FigureSpec(
        "full_stack_cost",
        "lback full - lback bare",
        lambda t: t["lback_full"] - t["lback_bare"],
        "us",
    ),
    FigureSpec(
        "django_stack_cost",
        "django stack - django bare",
        lambda t: t["django_stack"] - t["django_bare"],
        "us",
    ),
]

TITLE = "lback_mw full middleware stack vs Django: in-process WSGI calls, microseconds per request"

if __name__ == "__main__":
    sys.exit(main(TITLE, CASES, FIGURES, packages=("werkzeug", "django", "django-cors-headers")))

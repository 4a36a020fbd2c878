"""The benchmarks still build and answer correctly (timing is bench/'s job, not the tests')."""

from __future__ import annotations

import pytest

from bench import (
    full_stack,
    http_apps,
    middleware_overhead,
    over_http,
    stack_layers,
    startup,
    tracing,
)
from bench.runner import Case, build_scenarios


@pytest.mark.parametrize(
    "case",
    [*middleware_overhead.CASES, *full_stack.CASES, *stack_layers.CASES, *tracing.CASES],
    ids=lambda case: case.key,
)
def test_every_scenario_answers_200_with_its_body(case: Case) -> None:
    # build_scenarios calls the app once and exits if the answer is wrong.
    [scenario] = build_scenarios([case])
    assert scenario.name == case.key


def test_the_stacks_follow_the_recommended_order() -> None:
    from bench import scenarios
    from lback_mw import App
    from lback_mw.checks import check_app

    app = scenarios.lback_stateful(scenarios.FULL_STATEFUL_STACK)
    assert isinstance(app, App)
    assert [warning.id for warning in check_app(app)] == []


@pytest.mark.parametrize("key", sorted(http_apps.APPS))
def test_every_http_benchmark_app_answers_200(key: str) -> None:
    from werkzeug.test import Client

    case = http_apps.APPS[key]
    headers = {name: value for name, value in over_http.HEADERS.items() if name != "Host"}
    client = Client(http_apps.create(key))
    if case.start is not None:
        started = client.get(case.start, base_url="https://localhost", headers=headers)
        assert started.status_code == 200, started.get_data(as_text=True)[:500]
    response = client.get(case.path, base_url="https://localhost", headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)[:500]


@pytest.mark.parametrize("case", startup.CASES, ids=lambda case: case.key)
def test_every_startup_case_builds_its_app(case: startup.Case) -> None:
    # run_once exits if the fresh interpreter fails or does not print READY; the
    # probe asserts that the app it built answers GET / (every case but the floors).
    seconds, rss_mb = startup.run_once(case, probe=True)
    assert seconds > 0
    assert rss_mb > 0


def test_the_layer_figures_add_up_to_the_whole_stack() -> None:
    """Each built-in's figure is the difference of two neighbouring stacks, so the
    figures sum to the outer built-ins' total, and each stack adds one built-in."""
    times = {case.key: float(index * index) for index, case in enumerate(stack_layers.CASES)}
    *layers, total = stack_layers.FIGURES
    assert sum(spec.formula(times) for spec in layers) == total.formula(times)
    assert len(layers) == len(stack_layers.OUTER) == len(stack_layers.CASES) - 1

"""What the pipeline does with a hook's answer that is not a response, past the
request and response hooks the order matrix covers: process_exception and call_next."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest
from werkzeug.wrappers import Response as WerkzeugResponse

from lback_mw import App, BaseMiddleware, Request, Response
from lback_mw.middlewares.base import CallNext
from lback_mw.testing import Client


class ExceptionAnswer(BaseMiddleware):
    """Answers every exception with ``answer``: a response, or something that is not one."""

    def __init__(self, answer: Any) -> None:
        self.answer = answer

    def process_exception(self, request: Request, exc: Exception) -> Any:
        return self.answer


class Outer(BaseMiddleware):
    """Records the exception it is offered, so a test sees whether the chain went on."""

    def __init__(self, seen: list[str]) -> None:
        self.seen = seen

    def process_exception(self, request: Request, exc: Exception) -> None:
        self.seen.append(str(exc))


class DispatchAnswer:
    """A call_next middleware that returns ``answer`` instead of the inner response."""

    def __init__(self, answer: Any) -> None:
        self.answer = answer

    def dispatch(self, request: Request, call_next: CallNext) -> Any:
        call_next(request)
        return self.answer


def _failing_view(app: App) -> None:
    @app.route("/")
    def view(request: Request) -> str:
        raise RuntimeError("view failed")


@pytest.mark.parametrize(
    "answer",
    [
        pytest.param("a string", id="str"),
        pytest.param({"a": 1}, id="dict"),
        pytest.param(42, id="int"),
    ],
)
def test_a_non_response_from_process_exception_is_a_logged_500(
    app_factory: Callable[..., App],
    client_for: Callable[[App], Client],
    caplog: pytest.LogCaptureFixture,
    answer: Any,
) -> None:
    seen: list[str] = []
    app = app_factory(
        MIDDLEWARES=[
            {"class": Outer, "params": {"seen": seen}},
            {"class": ExceptionAnswer, "params": {"answer": answer}},
        ]
    )
    _failing_view(app)
    with caplog.at_level(logging.ERROR, logger="lback_mw.errors"):
        response = client_for(app).get("/")
    assert response.status_code == 500
    where = "tests.test_pipeline_returns.ExceptionAnswer.process_exception"
    assert f"{where} returned {type(answer).__name__}, expected a Response" in caplog.text
    assert seen == []  # answered (badly) inside: the outer hook is not offered it


def test_a_response_from_process_exception_is_the_answer(
    app_factory: Callable[..., App], client_for: Callable[[App], Client]
) -> None:
    seen: list[str] = []
    app = app_factory(
        MIDDLEWARES=[
            {"class": Outer, "params": {"seen": seen}},
            {"class": ExceptionAnswer, "params": {"answer": Response("handled", status=418)}},
        ]
    )
    _failing_view(app)
    response = client_for(app).get("/")
    assert (response.status_code, response.text) == (418, "handled")
    assert seen == []


@pytest.mark.parametrize(
    "answer",
    [pytest.param(None, id="None"), pytest.param("ok", id="str"), pytest.param(b"ok", id="bytes")],
)
def test_a_non_response_from_dispatch_is_a_logged_500(
    app_factory: Callable[..., App],
    client_for: Callable[[App], Client],
    caplog: pytest.LogCaptureFixture,
    answer: Any,
) -> None:
    app = app_factory(MIDDLEWARES=[{"class": DispatchAnswer, "params": {"answer": answer}}])
    app.route("/")(lambda request: "inner")
    with caplog.at_level(logging.ERROR, logger="lback_mw.errors"):
        response = client_for(app).get("/")
    assert response.status_code == 500
    assert "inner" not in response.text
    where = "tests.test_pipeline_returns.DispatchAnswer.dispatch"
    assert f"{where} returned {type(answer).__name__}, expected a Response" in caplog.text


def test_a_response_from_dispatch_is_the_answer(
    app_factory: Callable[..., App], client_for: Callable[[App], Client]
) -> None:
    answer: WerkzeugResponse = Response("replaced", status=202)
    app = app_factory(MIDDLEWARES=[{"class": DispatchAnswer, "params": {"answer": answer}}])
    app.route("/")(lambda request: "inner")
    response = client_for(app).get("/")
    assert (response.status_code, response.text) == (202, "replaced")

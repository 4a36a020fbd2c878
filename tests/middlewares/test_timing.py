"""TimingMiddleware: Server-Timing and X-Response-Time, on every response."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from werkzeug.wrappers import Response as WerkzeugResponse

from lback_mw import App, BaseMiddleware, ImproperlyConfigured, Request
from lback_mw.testing import Client

MS = r"\d+\.\d{3}"


class SeesDuration(BaseMiddleware):
    """Placed outside timing: reports what timing left on the request."""

    def process_response(self, request: Request, response: WerkzeugResponse) -> WerkzeugResponse:
        response.headers["X-Seen"] = f"{request.duration_ms:.3f}"
        return response


def build(app_factory: Callable[..., App], **params: Any) -> App:
    app = app_factory(
        MIDDLEWARES=[
            SeesDuration,
            {"class": "lback_mw.middlewares.TimingMiddleware", "params": params},
        ]
    )

    @app.route("/")
    def index(request: Request) -> dict[str, bool]:
        return {"started": request.start_time > 0}

    @app.route("/db")
    def db(request: Request) -> tuple[str, int, dict[str, str]]:
        return "ok", 200, {"Server-Timing": 'db;dur=5.2;desc="Postgres"'}

    @app.route("/boom")
    def boom(request: Request) -> str:
        raise RuntimeError("boom")

    return app


def test_sets_both_headers_and_the_duration(
    app_factory: Callable[..., App], client_for: Callable[[App], Client]
) -> None:
    response = client_for(build(app_factory)).get("/")
    assert response.json == {"started": True}
    server_timing = re.fullmatch(rf"app;dur=({MS})", response.headers["Server-Timing"])
    assert server_timing is not None
    assert response.headers["X-Response-Time"] == f"{server_timing[1]}ms"
    # the outer middleware sees the same figure, as a float
    assert response.headers["X-Seen"] == server_timing[1]


def test_appends_to_the_views_server_timing(
    app_factory: Callable[..., App], client_for: Callable[[App], Client]
) -> None:
    response = client_for(build(app_factory)).get("/db")
    assert re.fullmatch(
        rf'db;dur=5\.2;desc="Postgres", app;dur={MS}', response.headers["Server-Timing"]
    )
    assert len(response.headers.getlist("Server-Timing")) == 1


@pytest.mark.parametrize(("path", "status"), [("/missing", 404), ("/boom", 500)])
def test_error_responses_are_timed(
    app_factory: Callable[..., App], client_for: Callable[[App], Client], path: str, status: int
) -> None:
    response = client_for(build(app_factory)).get(path)
    assert response.status_code == status
    assert re.fullmatch(rf"app;dur={MS}", response.headers["Server-Timing"])
    assert re.fullmatch(rf"{MS}ms", response.headers["X-Response-Time"])


def test_headers_can_be_renamed_or_turned_off(
    app_factory: Callable[..., App], client_for: Callable[[App], Client]
) -> None:
    app = build(
        app_factory,
        server_timing="false",
        server_timing_metric="shop",
        response_time_header=None,
    )
    response = client_for(app).get("/db")
    assert response.headers["Server-Timing"] == 'db;dur=5.2;desc="Postgres"'  # untouched
    assert "X-Response-Time" not in response.headers
    assert "X-Seen" in response.headers  # still timed for the middleware outside

    app = build(app_factory, server_timing_metric="shop", response_time_header="X-Took")
    response = client_for(app).get("/")
    assert re.fullmatch(rf"shop;dur={MS}", response.headers["Server-Timing"])
    assert re.fullmatch(rf"{MS}ms", response.headers["X-Took"])
    assert "X-Response-Time" not in response.headers


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"response_time_header": "X Took"}, "parameter 'response_time_header' is 'X Took'"),
        ({"response_time_header": ""}, "not a valid HTTP header name"),
        ({"server_timing_metric": "app;dur=1"}, "not a valid HTTP Server-Timing metric name"),
    ],
)
def test_rejects_names_that_would_break_the_header(
    app_factory: Callable[..., App], params: dict[str, str], expected: str
) -> None:
    with pytest.raises(ImproperlyConfigured) as info:
        build(app_factory, **params)
    message = str(info.value)
    assert message.startswith("MIDDLEWARES[1] ('lback_mw.middlewares.TimingMiddleware'): ")
    assert "TimingMiddleware: parameter" in message
    assert expected in message

"""RequestIDMiddleware: adopting or making ids, echoing them, and the log filter."""

from __future__ import annotations

import logging
import os
import re
import uuid
import warnings
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from werkzeug.test import TestResponse

from lback_mw import App, ImproperlyConfigured, Request, Response
from lback_mw.middlewares.request_id import (
    RequestIDLogFilter,
    RequestIDMiddleware,
    current_request_id,
    new_request_id,
)
from lback_mw.testing import Client

HEX_ID = re.compile(r"[0-9a-f]{32}")
log = logging.getLogger("tests.request_id")


def payload(response: TestResponse) -> dict[str, Any]:
    data = response.json
    assert isinstance(data, dict)
    return data


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """caplog, its handler filtered as a configured handler would be."""
    caplog.set_level(logging.INFO)
    log_filter = RequestIDLogFilter()
    caplog.handler.addFilter(log_filter)
    yield caplog
    caplog.handler.removeFilter(log_filter)


@pytest.fixture
def app(app_factory: Callable[..., App]) -> App:
    app = app_factory(MIDDLEWARES=["lback_mw.middlewares.RequestIDMiddleware"])

    @app.route("/")
    def index(request: Request) -> dict[str, Any]:
        log.info("in the view")
        return {"id": request.id, "current": current_request_id()}

    @app.route("/boom")
    def boom(request: Request) -> str:
        raise RuntimeError("boom")

    return app


def test_new_ids_are_random_uuid4s() -> None:
    ids = {new_request_id() for _ in range(200)}
    assert len(ids) == 200
    for value in ids:
        parsed = uuid.UUID(value)
        assert parsed.version == 4
        assert parsed.variant == uuid.RFC_4122
        assert parsed.hex == value


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork (gunicorn's worker model)")
def test_forked_workers_make_different_ids() -> None:
    read_end, write_end = os.pipe()
    with warnings.catch_warnings():
        # Python 3.12+ warns about forking a process with threads; the child
        # only writes one id and exits.
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # the child: a worker forked from the same master
        os.write(write_end, new_request_id().encode())
        os._exit(0)
    os.close(write_end)
    os.waitpid(pid, 0)
    with os.fdopen(read_end, "rb") as pipe:
        from_child = pipe.read().decode()
    assert len(from_child) == 32
    assert from_child != new_request_id()


def test_generates_an_id_and_echoes_it(app: App, client_for: Callable[[App], Client]) -> None:
    response = client_for(app).get("/")
    request_id = response.headers["X-Request-ID"]
    assert HEX_ID.fullmatch(request_id)
    assert payload(response) == {"id": request_id, "current": request_id}


def test_each_request_gets_its_own_id(app: App, client_for: Callable[[App], Client]) -> None:
    client = client_for(app)
    ids = {client.get("/").headers["X-Request-ID"] for _ in range(3)}
    assert len(ids) == 3


def test_adopts_a_well_formed_incoming_id(app: App, client_for: Callable[[App], Client]) -> None:
    incoming = "edge-7f3a.b_2"
    response = client_for(app).get("/", headers={"X-Request-ID": incoming})
    assert response.headers["X-Request-ID"] == incoming
    assert payload(response)["id"] == incoming


@pytest.mark.parametrize(
    "hostile",
    [
        "",
        "has space",
        "semi;colon",
        '"quoted"',
        "<script>",
        "esc\x1b[31m",
        "ünïcode",
        pytest.param("x" * 201, id="201-chars"),
    ],
)
def test_replaces_a_malformed_incoming_id(
    app: App, client_for: Callable[[App], Client], hostile: str
) -> None:
    response = client_for(app).get("/", headers={"X-Request-ID": hostile})
    assert HEX_ID.fullmatch(response.headers["X-Request-ID"])
    assert payload(response)["id"] == response.headers["X-Request-ID"]


def test_accepts_the_longest_allowed_id(app: App, client_for: Callable[[App], Client]) -> None:
    incoming = "a" * 200
    response = client_for(app).get("/", headers={"X-Request-ID": incoming})
    assert payload(response)["id"] == incoming


def test_trust_incoming_false_always_generates(
    app_factory: Callable[..., App], client_for: Callable[[App], Client]
) -> None:
    app = app_factory(
        MIDDLEWARES=[
            {
                "class": "lback_mw.middlewares.request_id.RequestIDMiddleware",
                "params": {"trust_incoming": "false", "header_name": "X-Correlation-ID"},
            }
        ]
    )
    app.route("/")(lambda request: request.id)
    response = client_for(app).get("/", headers={"X-Correlation-ID": "client-chosen"})
    assert HEX_ID.fullmatch(response.text)
    assert response.headers["X-Correlation-ID"] == response.text
    assert "X-Request-ID" not in response.headers


@pytest.mark.parametrize(("path", "status"), [("/missing", 404), ("/boom", 500)])
def test_error_responses_carry_the_id_and_their_log_records_too(
    app: App,
    client_for: Callable[[App], Client],
    logs: pytest.LogCaptureFixture,
    path: str,
    status: int,
) -> None:
    response = client_for(app).get(path, headers={"X-Request-ID": "trace-me"})
    assert response.status_code == status
    assert response.headers["X-Request-ID"] == "trace-me"
    if status == 500:
        [error] = [r for r in logs.records if r.name == "lback_mw.errors"]
        assert error.request_id == "trace-me"  # type: ignore[attr-defined]


def test_log_filter_sees_the_id_only_during_the_request(
    app: App, client_for: Callable[[App], Client], logs: pytest.LogCaptureFixture
) -> None:
    client = client_for(app)
    first = client.get("/", headers={"X-Request-ID": "first"})
    log.info("between requests")
    second = client.get("/")  # no header: must not inherit "first"
    log.info("after the requests")

    assert first.headers["X-Request-ID"] == "first"
    assert second.headers["X-Request-ID"] not in ("first", "-")
    assert [(r.getMessage(), r.request_id) for r in logs.records] == [  # type: ignore[attr-defined]
        ("in the view", "first"),
        ("between requests", "-"),
        ("in the view", second.headers["X-Request-ID"]),
        ("after the requests", "-"),
    ]
    assert current_request_id() is None


def test_a_reused_thread_does_not_inherit_the_previous_id(
    app: App, client_for: Callable[[App], Client], logs: pytest.LogCaptureFixture
) -> None:
    client = client_for(app)
    with ThreadPoolExecutor(max_workers=1) as worker:  # one thread serves everything
        first = worker.submit(client.get, "/", headers={"X-Request-ID": "first"}).result()
        idle = worker.submit(current_request_id).result()
        worker.submit(log.info, "idle worker").result()
        second = worker.submit(client.get, "/").result()
    assert payload(first)["current"] == "first"
    assert idle is None
    assert logs.records[1].request_id == "-"  # type: ignore[attr-defined]
    assert payload(second)["current"] == second.headers["X-Request-ID"] != "first"


def test_streamed_body_does_not_leak_the_id(
    app_factory: Callable[..., App], client_for: Callable[[App], Client]
) -> None:
    app = app_factory(MIDDLEWARES=[RequestIDMiddleware])
    seen: list[str | None] = []

    def body() -> Iterator[bytes]:
        seen.append(current_request_id())
        yield b"chunk"

    app.route("/stream")(lambda request: Response(body()))
    response = client_for(app).get("/stream", buffered=False)
    assert b"".join(response.iter_encoded()) == b"chunk"
    response.close()
    assert HEX_ID.fullmatch(response.headers["X-Request-ID"])
    # The server iterates the body after the response has left the middleware,
    # which has reset the id by then (see the page's "Pitfalls").
    assert seen == [None]
    assert current_request_id() is None


def test_a_record_that_names_its_own_id_keeps_it(logs: pytest.LogCaptureFixture) -> None:
    log.info("explicit", extra={"request_id": "from-extra"})
    log.info("implicit")
    assert [r.request_id for r in logs.records] == ["from-extra", "-"]  # type: ignore[attr-defined]


@pytest.mark.parametrize("bad", ["X Request ID", "X-Request-ID:", "", "X-Id\r\nSet-Cookie"])
def test_rejects_a_header_name_that_is_not_a_token(
    app_factory: Callable[..., App], bad: str
) -> None:
    with pytest.raises(ImproperlyConfigured) as info:
        app_factory(
            MIDDLEWARES=[
                {
                    "class": "lback_mw.middlewares.RequestIDMiddleware",
                    "params": {"header_name": bad},
                }
            ]
        )
    message = str(info.value)
    assert message.startswith("MIDDLEWARES[0] ('lback_mw.middlewares.RequestIDMiddleware'): ")
    assert "RequestIDMiddleware: parameter 'header_name'" in message
    assert "not a valid HTTP header name" in message
    assert "'X-Request-ID'" in message

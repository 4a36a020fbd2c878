"""Sentry transactions named after the matched route (real sentry-sdk, events kept in memory)."""

from __future__ import annotations

import logging
import sys
import types
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import sentry_sdk
from sentry_sdk.envelope import Envelope
from sentry_sdk.integrations.logging import LoggingIntegration
from sentry_sdk.transport import Transport

from lback_mw import App, Request
from lback_mw.testing import Client

SENTRY_WSGI = "sentry_sdk.integrations.wsgi.SentryWsgiMiddleware"


class MemoryTransport(Transport):
    """Keeps every event and transaction instead of sending it anywhere."""

    def __init__(self) -> None:
        super().__init__()
        self.events: list[dict[str, Any]] = []

    def capture_envelope(self, envelope: Envelope) -> None:
        for item in envelope.items:
            if item.type in ("event", "transaction"):
                payload = item.payload.json
                assert payload is not None
                self.events.append(payload)


@pytest.fixture
def transport() -> Iterator[MemoryTransport]:
    transport = MemoryTransport()
    sentry_sdk.init(
        dsn="http://public@127.0.0.1:9/1",  # never contacted: the transport keeps events
        transport=transport,
        traces_sample_rate=1.0,
        default_integrations=False,
        auto_enabling_integrations=False,
        integrations=[LoggingIntegration(level=None, event_level=logging.ERROR)],
    )
    yield transport
    sentry_sdk.get_client().close()
    sentry_sdk.init()  # an inactive client: later tests send nothing


@pytest.fixture
def app(app_factory: Callable[..., App]) -> App:
    app = app_factory(WSGI_MIDDLEWARES=[SENTRY_WSGI])

    @app.route("/users/<int:id>")
    def user(request: Request, id: int) -> str:
        if id == 0:
            raise RuntimeError("user 0 is cursed")
        return "ok"

    return app


def by_type(transport: MemoryTransport) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    transactions = [e for e in transport.events if e.get("type") == "transaction"]
    errors = [e for e in transport.events if e.get("type") != "transaction"]
    return transactions, errors


def test_transaction_is_named_after_the_route(app: App, transport: MemoryTransport) -> None:
    Client(app).get("/users/5")
    [transaction], errors = by_type(transport)
    assert errors == []
    assert transaction["transaction"] == "/users/<int:id>"
    assert transaction["transaction_info"] == {"source": "route"}


def test_error_event_of_a_failing_view_carries_the_route(
    app: App, transport: MemoryTransport
) -> None:
    assert Client(app).get("/users/0").status_code == 500
    transactions, [error] = by_type(transport)
    assert error["transaction"] == "/users/<int:id>"
    assert error["logentry"]["message"] == "Unhandled exception on %s %r"
    assert error["exception"]["values"][-1]["value"] == "user 0 is cursed"
    assert [t["transaction"] for t in transactions] == ["/users/<int:id>"]


def test_unmatched_path_keeps_sentrys_generic_name(app: App, transport: MemoryTransport) -> None:
    assert Client(app).get("/no/such/page").status_code == 404
    [transaction], _ = by_type(transport)
    assert transaction["transaction"] == "generic WSGI request"


def test_without_sentrys_wsgi_middleware_no_name_sticks_to_the_thread(
    app_factory: Callable[..., App], transport: MemoryTransport
) -> None:
    app = app_factory()
    app.route("/users/<int:id>")(lambda request, id: "ok")
    Client(app).get("/users/5")
    # No per-request scope: naming the thread's scope would label this event too.
    sentry_sdk.capture_message("nightly report sent")
    [event] = transport.events
    assert event.get("transaction") != "/users/<int:id>"


def test_an_sdk_without_the_scope_api_names_nothing_and_fails_no_request(
    app_factory: Callable[..., App], monkeypatch: pytest.MonkeyPatch
) -> None:
    # sentry-sdk 1.x (and 2.0's top level) lack get_current_scope: a user's
    # older SDK must cost the name, never the request.
    monkeypatch.setitem(
        sys.modules, "sentry_sdk", types.SimpleNamespace(Scope=type("Scope", (), {}))
    )
    app = app_factory()
    app.route("/users/<int:id>")(lambda request, id: "ok")
    assert Client(app).get("/users/5").status_code == 200

"""``lback-mw run``'s development server closes every response, even when the
connection drops.

werkzeug's own handler skips ``close()`` when the connection drops (a reset, a
timeout) while the server drains the rest of the request, and every
``call_on_close`` callback (the access-log line) is lost. Real werkzeug server on
127.0.0.1, a raw socket as the client.
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from werkzeug.serving import WSGIRequestHandler, make_server

from lback_mw.devserver import DevRequestHandler, RememberResponse
from lback_mw.testing import make_app


@contextmanager
def dev_server(handler: type[WSGIRequestHandler], remember: bool) -> Iterator[int]:
    """werkzeug's threaded server with ``handler``; yields its port."""
    app = make_app(MIDDLEWARES=["lback_mw.middlewares.AccessLogMiddleware"])
    app.route("/", methods=["POST"])(lambda request: "ok")
    served = RememberResponse(app) if remember else app
    # A short socket timeout: how long the server waits for a stalled client.
    impatient = type("Impatient", (handler,), {"timeout": 0.5})
    server = make_server("127.0.0.1", 0, served, threaded=True, request_handler=impatient)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.port
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
        app.close()


def post_then_stall(port: int) -> None:
    """POST with more bytes than the request's length, read the answer, then send
    nothing more: werkzeug, draining the extra bytes, waits for the rest until its
    socket times out, which it treats as a dropped connection (as a reset is)."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        head = b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2\r\n\r\nab"
        sock.sendall(head + b"x" * 64_000)
        answer = b""
        while chunk := sock.recv(4096):  # until the server gives up and closes
            answer += chunk
        assert answer.startswith(b"HTTP/1.1 200 OK")


def access_log_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "lback_mw.access"]


@pytest.mark.parametrize(
    ("handler", "remember", "lines"),
    [
        pytest.param(DevRequestHandler, True, 1, id="lback-mw run"),
        pytest.param(WSGIRequestHandler, False, 0, id="werkzeug alone loses it"),
    ],
)
def test_a_dropped_connection_still_closes_the_response(
    caplog: pytest.LogCaptureFixture,
    handler: type[WSGIRequestHandler],
    remember: bool,
    lines: int,
) -> None:
    caplog.set_level(logging.INFO, logger="lback_mw.access")
    with dev_server(handler, remember) as port:
        post_then_stall(port)
    # server.shutdown() returned once the request thread is done (the server joins
    # its threads on close), so the close() either happened or never will.
    logged = access_log_lines(caplog)
    assert len(logged) == lines, logged
    if lines:
        assert '"POST / HTTP/1.1" 200 2' in logged[0]


def test_a_normal_request_is_closed_once(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="lback_mw.access")
    with (
        dev_server(DevRequestHandler, True) as port,
        socket.create_connection(("127.0.0.1", port), timeout=10) as sock,
    ):
        sock.sendall(b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n")
        assert sock.recv(15) == b"HTTP/1.1 200 OK"
    assert len(access_log_lines(caplog)) == 1

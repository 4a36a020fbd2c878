"""A request body that cannot be read is the client's fault: a 400, never a 500 (issue 8 item 6)."""

from __future__ import annotations

import io
import socket
import sys
from collections.abc import Callable, Iterator

import pytest
from werkzeug.test import EnvironBuilder, run_wsgi_app

from lback_mw import App, Request

from .serving import Server, serve

ROUTES_PY = """
from lback_mw import Route


def echo(request):
    return request.get_data()


routes = [Route("/echo", echo, methods=["POST"])]
"""


class _BrokenInput(io.RawIOBase):
    """A ``wsgi.input`` whose server fails while parsing what the client sent."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: object) -> int:
        raise self.error

    def readline(self, size: int | None = -1) -> bytes:
        raise self.error


class InvalidChunkSize(Exception):
    """Like a server's own parse error: neither OSError nor ValueError."""


@pytest.fixture
def app(app_factory: Callable[..., App]) -> App:
    app = app_factory()

    @app.route("/echo", methods=["POST"])
    def echo(request: Request) -> bytes:
        return request.get_data()

    @app.route("/form", methods=["POST"])
    def form(request: Request) -> dict[str, str]:
        return request.form.to_dict()

    return app


@pytest.mark.parametrize("path", ["/echo", "/form"])
@pytest.mark.parametrize(
    "framing",
    [
        pytest.param({"wsgi.input_terminated": True}, id="chunked (server-terminated)"),
        pytest.param({"CONTENT_LENGTH": "20"}, id="content-length"),
    ],
)
@pytest.mark.parametrize(
    "error",
    [
        pytest.param(InvalidChunkSize("Invalid chunk size: 'zz'"), id="parse error"),
        pytest.param(ConnectionResetError(104, "reset by peer"), id="reset"),
    ],
)
def test_an_error_reading_wsgi_input_is_a_400(
    app: App, path: str, framing: dict[str, object], error: Exception
) -> None:
    environ = EnvironBuilder(
        path=path,
        method="POST",
        content_type="application/x-www-form-urlencoded",
    ).get_environ()
    environ.pop("CONTENT_LENGTH", None)
    environ.update(framing)
    environ["wsgi.input"] = _BrokenInput(error)
    _body, status, _headers = run_wsgi_app(app, environ, buffered=True)
    # A reset under a Content-Length is werkzeug's own ClientDisconnected: a 400 too.
    assert status.startswith("400 ")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("bodyproj")
    package = root / "bodyproj"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "settings.py").write_text(
        'SECRET_KEY = "body-test-key"\nALLOWED_HOSTS = ["127.0.0.1"]\nROUTES = "bodyproj.routes"\n'
    )
    (package / "routes.py").write_text(ROUTES_PY)
    with serve(root, "bodyproj.settings", workers=1, ready_path="/echo") as running:
        yield running
    for name in [name for name in sys.modules if name.split(".")[0] == "bodyproj"]:
        del sys.modules[name]


def _raw_exchange(server: Server, request: bytes) -> bytes:
    host, port = server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(request)
        chunks = []
        while chunk := sock.recv(65536):  # Connection: close ends the answer
            chunks.append(chunk)
    return b"".join(chunks)


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"zz\r\nhello\r\n0\r\n\r\n", id="invalid chunk size"),
        pytest.param(b"5\r\nhelloXX0\r\n\r\n", id="missing chunk terminator"),
    ],
)
def test_gunicorn_chunked_body_errors_are_a_400(server: Server, body: bytes) -> None:
    head = (
        b"POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n"
        b"Connection: close\r\n\r\n"
    )
    answer = _raw_exchange(server, head + body)
    assert answer.startswith(b"HTTP/1.1 400 "), answer[:200]
    assert b"could not be read" in answer


def test_gunicorn_reads_a_valid_chunked_body(server: Server) -> None:
    head = (
        b"POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n"
        b"Connection: close\r\n\r\n"
    )
    answer = _raw_exchange(server, head + b"5\r\nhello\r\n0\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 200 "), answer[:200]
    assert answer.endswith(b"hello")

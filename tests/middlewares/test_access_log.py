"""AccessLogMiddleware: one safe, exact line per request, written once the body is sent."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any, ClassVar

import pytest
from werkzeug.test import EnvironBuilder
from werkzeug.utils import send_file
from werkzeug.wrappers import Response as WerkzeugResponse
from werkzeug.wsgi import FileWrapper

from lback_mw import App, BaseMiddleware, ImproperlyConfigured, Request, Response
from lback_mw.middlewares.access_log import AccessLogMiddleware
from lback_mw.testing import Client

# werkzeug's test client sets no REMOTE_ADDR; a server always does.
PEER = {"REMOTE_ADDR": "10.0.0.1"}
CLF_TIME = (
    r"\d{2}/(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)/\d{4}:\d{2}:\d{2}:\d{2} [+-]\d{4}"
)
QUOTED = r'"((?:[^"\\]|\\.)*)"'  # a CLF quoted field: escaped quotes and backslashes only
COMMON = re.compile(
    rf"(\S+) - (\S+) \[({CLF_TIME})\] {QUOTED} (\d{{3}}) (\d+|-) (\d+\.\d{{3}}) (\S+)"
)
COMBINED = re.compile(
    rf"(\S+) - (\S+) \[({CLF_TIME})\] {QUOTED} (\d{{3}}) (\d+|-) {QUOTED} {QUOTED} "
    rf"(\d+\.\d{{3}}) (\S+)"
)


class SetUser(BaseMiddleware):
    """Sets request.user from the X-Test-User header, as an auth middleware would."""

    USERS: ClassVar[dict[str, Any]] = {
        "django-like": SimpleNamespace(is_authenticated=True, get_username=lambda: "alice"),
        "attribute": SimpleNamespace(username="bob"),
        "anonymous": SimpleNamespace(is_authenticated=False, username="AnonymousUser"),
        "plain": 'carol "the admin"',
        "forger": "x [01/Jan/2030:00:00:00 +0000] GET /admin 200",
        # A detached ORM instance, or a user store that is down: reading fails.
        "broken": SimpleNamespace(get_username=lambda: 1 / 0),
    }

    def process_request(self, request: Request) -> None:
        kind = request.headers.get("X-Test-User")
        if kind == "unresolved":
            # AuthenticationMiddleware's deferred user, which nothing read: loading
            # it for the log would fail (a store outage) and log a warning.
            request.defer("user", lambda: 1 / 0)
        elif kind is not None:
            request.user = self.USERS[kind]


@pytest.fixture
def access(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.INFO, logger="lback_mw.access")
    return caplog


def lines(caplog: pytest.LogCaptureFixture, logger: str = "lback_mw.access") -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == logger]


def build(app_factory: Callable[..., App], *outer: Any, **params: Any) -> App:
    app = app_factory(
        MIDDLEWARES=[
            *outer,
            {"class": "lback_mw.middlewares.AccessLogMiddleware", "params": params},
            SetUser,
        ]
    )

    @app.route("/items", methods=["GET", "POST"])
    def items(request: Request) -> str:
        return "hello"

    @app.route("/boom")
    def boom(request: Request) -> str:
        raise RuntimeError("boom")

    @app.route("/stream")
    def stream(request: Request) -> Response:
        def body() -> Iterator[bytes | str]:
            yield b"ab"
            yield "\u00e9"  # two bytes once encoded
            yield b"cde"

        return Response(body())  # type: ignore[arg-type]

    return app


def test_common_format_exact_shape(
    app_factory: Callable[..., App],
    client_for: Callable[[App], Client],
    access: pytest.LogCaptureFixture,
) -> None:
    client = client_for(build(app_factory, format="common"))
    client.get("/items?page=2&q=a%20b", headers={"User-Agent": "curl/8"}, environ_base=PEER)
    [line] = lines(access)
    match = COMMON.fullmatch(line)
    assert match is not None, line
    addr, user, stamp, request_line, status, size, _ms, request_id = match.groups()
    assert (addr, user, request_line, status, size, request_id) == (
        "10.0.0.1",
        "-",
        "GET /items?page=2&q=a%20b HTTP/1.1",
        "200",
        "5",
        "-",
    )
    received = datetime.strptime(stamp, "%d/%b/%Y:%H:%M:%S %z")
    assert abs((datetime.now(received.tzinfo) - received).total_seconds()) < 60
    assert "curl" not in line


def test_combined_is_the_default_and_adds_referer_and_user_agent(
    app_factory: Callable[..., App],
    client_for: Callable[[App], Client],
    access: pytest.LogCaptureFixture,
) -> None:
    client = client_for(build(app_factory))
    client.post("/items", headers={"Referer": "https://shop.example/cart", "User-Agent": "curl/8"})
    client.get("/items")
    first, second = lines(access)
    match = COMBINED.fullmatch(first)
    assert match is not None, first
    assert match.group(4, 5, 6, 7, 8) == (
        "POST /items HTTP/1.1",
        "200",
        "5",
        "https://shop.example/cart",
        "curl/8",
    )
    match = COMBINED.fullmatch(second)
    assert match is not None, second
    assert match.group(7) == "-"  # no referer


def test_json_format_is_one_parseable_line(
    app_factory: Callable[..., App],
    client_for: Callable[[App], Client],
    access: pytest.LogCaptureFixture,
) -> None:
    client = client_for(build(app_factory, format="json"))
    client.get("/items?page=2", headers={"User-Agent": "curl/8"}, environ_base=PEER)
    [line] = lines(access)
    assert "\n" not in line
    fields = json.loads(line)
    assert set(fields) == {
        "time",
        "remote_addr",
        "user",
        "method",
        "path",
        "protocol",
        "status",
        "bytes",
        "duration_ms",
        "request_id",
        "trace_id",
        "referer",
        "user_agent",
    }
    assert fields | {"time": None, "duration_ms": None} == {
        "time": None,
        "remote_addr": "10.0.0.1",
        "user": None,
        "method": "GET",
        "path": "/items?page=2",
        "protocol": "HTTP/1.1",
        "status": 200,
        "bytes": 5,
        "duration_ms": None,
        "request_id": None,
        "trace_id": None,
        "referer": None,
        "user_agent": "curl/8",
    }
    assert isinstance(fields["duration_ms"], float)
    assert fields["duration_ms"] >= 0
    assert datetime.fromisoformat(fields["time"]).tzinfo is not None


def test_fields_are_passed_as_extra_for_structured_handlers(
    app_factory: Callable[..., App],
    client_for: Callable[[App], Client],
    access: pytest.LogCaptureFixture,
) -> None:
    client = client_for(build(app_factory, "lback_mw.middlewares.RequestIDMiddleware"))
    response = client.get("/items", headers={"X-Test-User": "attribute"})
    [record] = [r for r in access.records if r.name == "lback_mw.access"]
    assert record.levelno == logging.INFO
    extra = vars(record)
    assert extra["request_id"] == response.headers["X-Request-ID"]
    assert extra["http"]["status"] == 200
    assert extra["http"]["user"] == "bob"
    assert extra["http"]["request_id"] == response.headers["X-Request-ID"]
    assert json.loads(json.dumps(extra["http"])) == extra["http"]


@pytest.mark.parametrize(("path", "status"), [("/boom", "500"), ("/nope", "404")])
def test_logs_the_real_status_of_error_responses(
    app_factory: Callable[..., App],
    client_for: Callable[[App], Client],
    access: pytest.LogCaptureFixture,
    path: str,
    status: str,
) -> None:
    response = client_for(build(app_factory)).get(path)
    assert response.status_code == int(status)
    [line] = lines(access)
    match = COMBINED.fullmatch(line)
    assert match is not None, line
    assert match.group(4, 5, 6) == (f"GET {path} HTTP/1.1", status, str(len(response.data)))


def test_counts_the_bytes_of_a_streamed_body_when_it_is_finished(
    app_factory: Callable[..., App],
    client_for: Callable[[App], Client],
    access: pytest.LogCaptureFixture,
) -> None:
    client = client_for(build(app_factory, format="json"))
    response = client.get("/stream", buffered=False)
    assert lines(access) == []  # nothing sent yet: nothing logged yet
    assert b"".join(response.iter_encoded()) == "ab\u00e9cde".encode()
    response.close()
    [line] = lines(access)
    assert json.loads(line)["bytes"] == 7


@pytest.mark.parametrize("path", ["/items", "/stream"])
def test_head_sends_no_body(
    app_factory: Callable[..., App], access: pytest.LogCaptureFixture, path: str
) -> None:
    # Unlinted: werkzeug's linter wrongly expects a HEAD response to send Content-Length bytes.
    response = Client(build(app_factory, format="common")).head(path)
    assert response.data == b""
    match = COMMON.fullmatch(lines(access)[0])
    assert match is not None
    assert match.group(4, 6) == (f"HEAD {path} HTTP/1.1", "-")


@pytest.mark.parametrize(
    ("kind", "logged"),
    [
        ("django-like", "alice"),
        ("attribute", "bob"),
        ("anonymous", "-"),
        ("plain", 'carol\\x20\\"the\\x20admin\\"'),
        ("broken", "-"),
        ("unresolved", "-"),
    ],
)
def test_logs_the_user_and_the_request_id(
    app_factory: Callable[..., App],
    client_for: Callable[[App], Client],
    access: pytest.LogCaptureFixture,
    kind: str,
    logged: str,
) -> None:
    app = build(app_factory, "lback_mw.middlewares.RequestIDMiddleware", format="common")
    headers = {"X-Test-User": kind, "X-Request-ID": "rid-42"}
    client_for(app).get("/items", headers=headers, environ_base=PEER)
    [line] = lines(access)
    assert line.startswith(f"10.0.0.1 - {logged} [")
    assert line.endswith(" rid-42")
    # Only a user that was there and failed when read is warned about; a deferred
    # one that nothing read was never loaded.
    warned = [r for r in access.records if "could not be read" in r.getMessage()]
    assert bool(warned) == (kind == "broken")


def test_escapes_control_characters_quotes_and_backslashes(
    app_factory: Callable[..., App],
    client_for: Callable[[App], Client],
    access: pytest.LogCaptureFixture,
) -> None:
    forged = '\r\n127.0.0.1 - admin [01/Jan/2030:00:00:00 +0000] "GET /admin HTTP/1.1" 200 1'
    hostile_agent = f'evil\\" {forged}\x1b[31m\u2028'
    client = client_for(build(app_factory))
    client.get(
        "/x%0D%0Afake%22line",
        headers={"Referer": 'a"b\\c'},
        environ_overrides={"HTTP_USER_AGENT": hostile_agent},
    )
    [line] = lines(access)
    assert not re.search(r"[\x00-\x1f\x7f\u2028\u2029]", line)
    match = COMBINED.fullmatch(line)
    assert match is not None, line
    assert match[4] == "GET /x%0D%0Afake%22line HTTP/1.1"
    assert match[7] == 'a\\"b\\\\c'
    assert match[8] == (
        'evil\\\\\\" \\r\\n127.0.0.1 - admin [01/Jan/2030:00:00:00 +0000] '
        '\\"GET /admin HTTP/1.1\\" 200 1\\x1b[31m\\u2028'
    )


def test_spaces_cannot_shift_the_unquoted_fields(
    app_factory: Callable[..., App],
    client_for: Callable[[App], Client],
    access: pytest.LogCaptureFixture,
) -> None:
    # A user name (or a client address from a misconfigured proxy) with spaces
    # would otherwise end its field early and feed a parser fields of its own.
    client_for(build(app_factory, format="common")).get(
        "/items", headers={"X-Test-User": "forger"}, environ_base={"REMOTE_ADDR": "1.2.3.4 -"}
    )
    [line] = lines(access)
    match = COMMON.fullmatch(line)
    assert match is not None, line
    addr, user, _stamp, request_line, status = match.groups()[:5]
    assert addr == "1.2.3.4\\x20-"
    assert user == SetUser.USERS["forger"].replace(" ", "\\x20")
    assert (request_line, status) == ("GET /items HTTP/1.1", "200")


def test_json_escapes_control_characters_and_round_trips(
    app_factory: Callable[..., App],
    client_for: Callable[[App], Client],
    access: pytest.LogCaptureFixture,
) -> None:
    agent = "evil\r\n{}\x1b\u2028"
    client_for(build(app_factory, format="json")).get(
        "/x%0D%0Ay", environ_overrides={"HTTP_USER_AGENT": agent}
    )
    [line] = lines(access)
    assert re.fullmatch(r"[\x20-\x7e]+", line)  # printable ASCII only
    fields = json.loads(line)
    assert fields["user_agent"] == agent
    assert fields["path"] == "/x%0D%0Ay"


def test_path_is_logged_as_sent_even_when_not_utf8(
    app_factory: Callable[..., App],
    client_for: Callable[[App], Client],
    access: pytest.LogCaptureFixture,
) -> None:
    # werkzeug's request.path decodes UTF-8 with replacement: it would say /caf%EF%BF%BD.
    client_for(build(app_factory, format="json")).get(
        "/", query_string="q=%E9", environ_overrides={"PATH_INFO": "/caf\xe9//x"}
    )
    [line] = lines(access)
    assert json.loads(line)["path"] == "/caf%E9//x?q=%E9"


def test_client_address_honours_proxy_fix_but_never_raw_forwarded_for(
    app_factory: Callable[..., App],
    client_for: Callable[[App], Client],
    access: pytest.LogCaptureFixture,
) -> None:
    spoofed = {"X-Forwarded-For": "203.0.113.7"}
    client_for(build(app_factory, format="json")).get("/items", headers=spoofed, environ_base=PEER)
    proxied = app_factory(
        WSGI_MIDDLEWARES=[
            {"class": "werkzeug.middleware.proxy_fix.ProxyFix", "params": {"x_for": 1}}
        ],
        MIDDLEWARES=["lback_mw.middlewares.AccessLogMiddleware"],
    )
    proxied.route("/items")(lambda request: "hello")
    client_for(proxied).get("/items", headers=spoofed, environ_base=PEER)
    direct, behind_proxy = lines(access)
    assert json.loads(direct)["remote_addr"] == "10.0.0.1"
    assert behind_proxy.startswith("203.0.113.7 - - [")


def test_level_is_honoured(
    app_factory: Callable[..., App],
    client_for: Callable[[App], Client],
    access: pytest.LogCaptureFixture,
) -> None:
    client_for(build(app_factory, level="debug")).get("/items")
    assert lines(access) == []  # the logger is at INFO

    access.set_level(logging.DEBUG, logger="lback_mw.access")
    client_for(build(app_factory, level="debug")).get("/items")
    client_for(build(app_factory, level="25")).get("/items")
    assert [r.levelno for r in access.records if r.name == "lback_mw.access"] == [10, 25]


def test_a_disabled_level_costs_no_wrapping(access: pytest.LogCaptureFixture) -> None:
    middleware = AccessLogMiddleware(level=logging.DEBUG)
    request = Request(EnvironBuilder(path="/").get_environ())
    body = iter([b"x"])
    response = Response(body)
    middleware.process_request(request)
    assert middleware.process_response(request, response) is response
    assert response.response is body
    response.close()
    assert lines(access) == []


def test_logger_name_is_configurable(
    app_factory: Callable[..., App],
    client_for: Callable[[App], Client],
    access: pytest.LogCaptureFixture,
) -> None:
    access.set_level(logging.INFO, logger="shop.http")
    client_for(build(app_factory, logger_name="shop.http")).get("/items")
    assert lines(access) == []
    assert len(lines(access, "shop.http")) == 1


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"level": "LOUD"}, "parameter 'level' is 'LOUD', which is not a logging level"),
        ({"level": -1}, "parameter 'level' is -1"),
        ({"logger_name": " "}, "parameter 'logger_name' is empty"),
        ({"format": "xml"}, "parameter 'format'"),
    ],
)
def test_rejects_bad_configuration(
    app_factory: Callable[..., App], params: dict[str, Any], expected: str
) -> None:
    with pytest.raises(ImproperlyConfigured) as info:
        build(app_factory, **params)
    message = str(info.value)
    assert message.startswith("MIDDLEWARES[0] ('lback_mw.middlewares.AccessLogMiddleware'): ")
    assert expected in message


def test_rejects_a_bad_format_when_built_directly() -> None:
    with pytest.raises(ImproperlyConfigured, match="AccessLogMiddleware: parameter 'format'"):
        AccessLogMiddleware(format="xml")  # type: ignore[arg-type]


def test_one_record_per_request_even_with_an_outer_middleware(
    app_factory: Callable[..., App],
    client_for: Callable[[App], Client],
    access: pytest.LogCaptureFixture,
) -> None:
    class Outer(BaseMiddleware):
        def process_response(
            self, request: Request, response: WerkzeugResponse
        ) -> WerkzeugResponse:
            response.status_code = 202  # the access log reports what was really sent
            return response

    client_for(build(app_factory, Outer, format="common")).get("/items")
    [line] = lines(access)
    match = COMMON.fullmatch(line)
    assert match is not None
    assert match[5] == "202"


@pytest.mark.parametrize("streamed", [True, False])
def test_direct_passthrough_bodies_are_logged_too(
    app_factory: Callable[..., App],
    client_for: Callable[[App], Client],
    access: pytest.LogCaptureFixture,
    streamed: bool,
) -> None:
    # send_file (and so StaticFilesMiddleware) answers with direct_passthrough, whose
    # body werkzeug hands to the server without ever calling the response's close().
    app = build(app_factory, format="common")

    @app.route("/file")
    def file(request: Request) -> WerkzeugResponse:
        if streamed:
            return send_file(io.BytesIO(b"x" * 1000), request.environ, mimetype="text/plain")
        return Response(b"x" * 1000, direct_passthrough=True)

    assert client_for(app).get("/file").data == b"x" * 1000
    [line] = lines(access)
    match = COMMON.fullmatch(line)
    assert match is not None, line
    assert match.group(4, 5, 6) == ("GET /file HTTP/1.1", "200", "1000")


def test_a_file_is_still_handed_to_the_servers_file_wrapper(
    app_factory: Callable[..., App], access: pytest.LogCaptureFixture
) -> None:
    """Logging must not cost the server its sendfile(): the file wrapper reaches it."""

    class ServerFileWrapper(FileWrapper):
        pass

    app = build(app_factory, format="common")

    @app.route("/file")
    def file(request: Request) -> WerkzeugResponse:
        return send_file(io.BytesIO(b"x" * 1000), request.environ, mimetype="text/plain")

    environ = EnvironBuilder("/file").get_environ()
    environ["wsgi.file_wrapper"] = ServerFileWrapper
    body = app(environ, lambda status, headers, exc_info=None: lambda data: None)
    assert isinstance(body, ServerFileWrapper)
    [line] = lines(access)  # written before the body is sent
    match = COMMON.fullmatch(line)
    assert match is not None, line
    assert match.group(5, 6) == ("200", "1000")
    assert b"".join(body) == b"x" * 1000
    body.close()


def test_the_logger_s_own_filters_still_decide(
    app_factory: Callable[..., App],
    client_for: Callable[[App], Client],
    access: pytest.LogCaptureFixture,
) -> None:
    """The record is handed to Logger.handle directly (no stack walk): a filter on the
    logger still drops what it drops, and the record names where it was made."""
    client = client_for(build(app_factory))
    logger = logging.getLogger("lback_mw.access")

    def no_health(record: logging.LogRecord) -> bool:
        return "/health" not in record.getMessage()

    logger.addFilter(no_health)
    try:
        client.get("/health")
        client.get("/items")
    finally:
        logger.removeFilter(no_health)
    [record] = [r for r in access.records if r.name == "lback_mw.access"]
    assert '"GET /items HTTP/1.1" 200' in record.getMessage()
    assert record.levelno == logging.INFO
    assert record.http["path"] == "/items"  # type: ignore[attr-defined]
    assert (Path(record.pathname).name, record.funcName) == ("access_log.py", "_emit")

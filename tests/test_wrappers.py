"""lback_mw's Request and Response behave exactly as werkzeug's do, only faster."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

import pytest
from werkzeug.datastructures import Headers
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request as WerkzeugRequest
from werkzeug.wrappers import Response as WerkzeugResponse

from lback_mw import App, JSONResponse, Request, Response
from lback_mw.testing import Client

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIEnvironment


def _stream() -> Iterator[bytes]:
    yield b"chunk"


CASES: dict[str, Callable[[], Response]] = {
    "plain": lambda: Response("hello"),
    "json": lambda: JSONResponse({"a": 1}, headers={"X-A": "1", "Vary": "Origin"}),
    "relative location": lambda: Response(status=302, headers={"Location": "../next?x=1"}),
    "iri location": lambda: Response(status=303, headers={"Location": "/caf\u00e9"}),
    "absolute location": lambda: Response(status=307, headers={"Location": "https://x.test/"}),
    "content-location": lambda: Response("x", headers={"Content-Location": "/caf\u00e9"}),
    "204": lambda: Response(status=204, headers={"Content-Length": "0"}),
    "101": lambda: Response(status=101),
    "304": lambda: Response(
        "x", status=304, headers={"ETag": '"a"', "Content-Type": "text/plain", "Expires": "0"}
    ),
    "own content-length": lambda: Response("hello", headers={"Content-Length": "5"}),
    "streamed": lambda: Response(_stream()),
    "repeated headers": lambda: Response(
        "x", headers=[("Set-Cookie", "a=1"), ("Set-Cookie", "b=2")]
    ),
}


@pytest.mark.parametrize("make", CASES.values(), ids=CASES.keys())
@pytest.mark.parametrize("autocorrect", [True, False])
def test_wsgi_headers_match_werkzeugs(make: Callable[[], Response], autocorrect: bool) -> None:
    environ = EnvironBuilder("/a/b?q=1", base_url="http://example.test/root").get_environ()
    ours, theirs = make(), make()
    ours.autocorrect_location_header = theirs.autocorrect_location_header = autocorrect
    expected = WerkzeugResponse.get_wsgi_headers(theirs, environ)
    assert ours.get_wsgi_headers(environ).to_wsgi_list() == expected.to_wsgi_list()


def test_the_response_keeps_its_own_headers() -> None:
    response = Response(status=302, headers={"Location": "/next"})
    response.autocorrect_location_header = True
    environ = EnvironBuilder("/").get_environ()
    sent = response.get_wsgi_headers(environ)
    assert sent["Location"] == "http://localhost/next"
    assert response.headers["Location"] == "/next"  # a copy was fixed, not the original


HOSTILE_JSON = {
    "nested lists": b"[" * 100_000,
    "nested objects": b'{"a":' * 50_000,
    "escaped lone surrogate": b'{"t": "\\ud800"}',
    "lone low surrogate in a key": b'{"\\udfff": 1}',
    "surrogate bytes (not UTF-8)": b'{"t": "\xed\xa0\x80"}',
}


@pytest.fixture
def json_client(app_factory: Callable[..., App], client_for: Callable[[App], Client]) -> Client:
    app = app_factory()

    @app.route("/silent", methods=["POST"])
    def silent(request: Request) -> dict[str, object]:
        return {"parsed": request.get_json(silent=True)}

    @app.route("/strict", methods=["POST"])
    def strict(request: Request) -> dict[str, object]:
        return {"parsed": request.get_json()}

    return client_for(app)


@pytest.mark.parametrize("body", HOSTILE_JSON.values(), ids=HOSTILE_JSON.keys())
def test_hostile_json_is_none_when_silent_and_400_otherwise(
    json_client: Client, body: bytes
) -> None:
    silent = json_client.post("/silent", data=body, content_type="application/json")
    assert (silent.status_code, silent.json) == (200, {"parsed": None})
    strict = json_client.post("/strict", data=body, content_type="application/json")
    assert strict.status_code == 400


def test_json_that_is_only_unusual_still_parses(json_client: Client) -> None:
    # A surrogate pair is one character; an escaped backslash before "ud800" is text.
    body = '{"emoji": "\\ud83d\\ude00", "text": "\\\\ud800", "deep": ' + "[" * 50 + "]" * 50 + "}"
    response = json_client.post("/strict", data=body, content_type="application/json")
    assert response.status_code == 200
    assert response.json == {"parsed": json.loads(body)}
    assert response.json["parsed"]["emoji"] == "\U0001f600"
    assert response.json["parsed"]["text"] == "\\ud800"


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda: JSONResponse({"t": "a\ud800b"}), id="JSONResponse"),
        pytest.param(lambda: Response("a\udfffb"), id="str body"),
        pytest.param(lambda: Response(iter(["a", "\ud800b"])), id="streamed str chunks"),
    ],
)
def test_a_lone_surrogate_never_breaks_the_response(make: Callable[[], Response]) -> None:
    response = make()
    environ = EnvironBuilder("/").get_environ()
    body = b"".join(response(environ, lambda status, headers, exc_info=None: lambda data: None))
    body.decode("utf-8")  # strict: the body is valid UTF-8
    if isinstance(response, JSONResponse):
        assert json.loads(body) == {"t": "a\ud800b"}  # escaped, so the value is exact
    else:
        assert body == b"a?b"


# The lean constructor and __call__ of lback_mw's Response against werkzeug's own code
# on the same object: a werkzeug upgrade that changes either shows up here.

BUILDS: dict[str, tuple[tuple[object, ...], dict[str, object]]] = {
    "str": (("Hello",), {}),
    "bytes": ((b"\x00\x01",), {}),
    "empty str": (("",), {}),
    "non-ascii": (("caf\u00e9",), {}),
    "lone surrogate": (("a\ud800b",), {}),
    "int status": (("x", 404), {}),
    "HTTPStatus": (("x", HTTPStatus.CREATED), {}),
    "unnamed status": (("x", 299), {}),
    "status line": (("x", "201 Made"), {}),
    "mimetype": ((b"x",), {"mimetype": "application/octet-stream"}),
    "text mimetype": (("x",), {"mimetype": "text/plain"}),
    "empty mimetype": (("x",), {"mimetype": ""}),
    "content_type": (("x",), {"content_type": "text/csv"}),
    "headers": (("x",), {"headers": {"X-A": "1"}}),
    "no body": ((), {}),
    "list body": ((["a", b"b"],), {}),
    "passthrough": (([b"a"],), {"direct_passthrough": True}),
}


def _state(response: Response) -> dict[str, object]:
    state = dict(vars(response))
    state["headers"] = response.headers.to_wsgi_list()
    return state


@pytest.mark.parametrize(("args", "kwargs"), BUILDS.values(), ids=BUILDS.keys())
def test_construction_matches_werkzeugs(
    args: tuple[object, ...], kwargs: dict[str, object]
) -> None:
    theirs = Response.__new__(Response)
    WerkzeugResponse.__init__(theirs, *args, **kwargs)  # type: ignore[arg-type]
    assert _state(Response(*args, **kwargs)) == _state(theirs)  # type: ignore[arg-type]


class _Closing(list[bytes]):
    closed = False

    def close(self) -> None:
        self.closed = True


SENDS: dict[str, tuple[Callable[[], Response], str]] = {
    "plain": (lambda: Response("hello"), "GET"),
    "json": (lambda: JSONResponse({"a": 1}, status=201), "GET"),
    "HEAD": (lambda: Response("hello"), "HEAD"),
    "204": (lambda: Response("", status=204), "GET"),
    "304": (lambda: Response("x", status=304), "GET"),
    "101": (lambda: Response(status=101), "GET"),
    "location": (lambda: Response("x", 302, headers={"Location": "/next"}), "GET"),
    "lower-case location": (lambda: Response("x", 302, headers={"location": "/n"}), "GET"),
    "content-location": (lambda: Response("x", headers={"Content-Location": "/c"}), "GET"),
    "str chunks": (lambda: Response(["a", "\u00e9"]), "GET"),
    "no content-length": (lambda: _without_length(Response([b"ab", b"c"])), "GET"),
    "streamed": (lambda: Response(_stream()), "GET"),
    "closable list": (lambda: Response(_Closing([b"x"])), "GET"),
    "passthrough": (lambda: Response([b"x"], direct_passthrough=True), "GET"),
}


def _without_length(response: Response) -> Response:
    del response.headers["Content-Length"]
    return response


def _send(
    call: Callable[..., Iterable[bytes]], response: Response, method: str
) -> tuple[object, ...]:
    environ = EnvironBuilder("/a", method=method, base_url="http://example.test/").get_environ()
    started: list[tuple[str, list[tuple[str, str]]]] = []
    closed: list[bool] = []
    body = call(response, environ, lambda status, headers: started.append((status, headers)))
    chunks = b"".join(body)
    if hasattr(body, "close"):
        body.close()
    return started, chunks, closed, getattr(response.response, "closed", None)


@pytest.mark.parametrize(("make", "method"), SENDS.values(), ids=SENDS.keys())
def test_sending_matches_werkzeugs(make: Callable[[], Response], method: str) -> None:
    assert _send(Response.__call__, make(), method) == _send(
        WerkzeugResponse.__call__, make(), method
    )


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_close_callbacks_run_once_after_the_body_as_werkzeugs_do(method: str) -> None:
    """The access log's case: a body held in memory with a close callback keeps the
    lean path, and the server's close() runs the callback as werkzeug's would."""

    def sent(call: Callable[..., Iterable[bytes]]) -> tuple[object, ...]:
        calls: list[str] = []
        response = Response("hello")
        response.call_on_close(lambda: calls.append("closed"))
        result = _send(call, response, method)
        return (*result, calls)

    ours, werkzeugs = sent(Response.__call__), sent(WerkzeugResponse.__call__)
    assert ours == werkzeugs
    assert ours[-1] == ["closed"]


def _send_raw(response: Response, start: Callable[..., object] = lambda *args: None) -> Any:
    return response(EnvironBuilder("/").get_environ(), start)  # type: ignore[arg-type]


def test_a_response_with_close_callbacks_still_closes() -> None:
    done: list[str] = []
    response = Response("x")
    response.call_on_close(lambda: done.append("closed"))
    body = _send_raw(response)
    assert done == []
    body.close()
    assert done == ["closed"]


def test_a_subclass_overriding_finalisation_is_honoured() -> None:
    class Tagged(Response):
        def get_wsgi_headers(self, environ: WSGIEnvironment) -> Headers:
            headers = super().get_wsgi_headers(environ)
            headers["X-Tag"] = "1"
            return headers

    started: list[list[tuple[str, str]]] = []
    _send_raw(Tagged("x"), lambda status, headers: started.append(headers))
    assert ("X-Tag", "1") in started[0]
    assert not Tagged._lean
    assert Response._lean
    assert JSONResponse._lean


# The lean constructor of lback_mw's Request against werkzeug's on the same environ:
# every attribute werkzeug's sets, read back from both.
ENVIRONS: dict[str, dict[str, Any]] = {
    "plain": {"REQUEST_METHOD": "GET", "PATH_INFO": "/hello", "SERVER_NAME": "x.test"},
    "lower-case method": {"REQUEST_METHOD": "post", "PATH_INFO": "/a"},
    "no method, no path": {"REQUEST_METHOD": None, "PATH_INFO": None},
    "empty path": {"PATH_INFO": ""},
    "leading slashes": {"PATH_INFO": "///a//b/"},
    "path with no slash": {"PATH_INFO": "a/b"},
    "utf-8 path": {"PATH_INFO": "/caf\u00c3\u00a9"},
    "raw latin-1 byte": {"PATH_INFO": "/caf\u00e9"},
    "script name": {"SCRIPT_NAME": "/mount/", "PATH_INFO": "/x"},
    "utf-8 script name": {"SCRIPT_NAME": "/m\u00c3\u00bc/", "PATH_INFO": "/x"},
    "query": {"QUERY_STRING": "a=1&b=caf\u00c3\u00a9"},
    "no query": {"QUERY_STRING": None},
    "https": {"wsgi.url_scheme": "https", "SERVER_PORT": "443"},
    "unix socket": {"SERVER_NAME": "/run/app.sock", "SERVER_PORT": ""},
    "no server": {"SERVER_NAME": None},
    "no remote address": {"REMOTE_ADDR": None},
    "headers": {"HTTP_HOST": "x.test:8000", "HTTP_X_A": "1", "CONTENT_TYPE": "text/plain"},
}


def _environ(overrides: dict[str, Any]) -> WSGIEnvironment:
    environ: WSGIEnvironment = EnvironBuilder().get_environ()
    for key, value in overrides.items():
        if value is None:
            environ.pop(key, None)
        else:
            environ[key] = value
    return environ


@pytest.mark.parametrize("overrides", ENVIRONS.values(), ids=ENVIRONS.keys())
@pytest.mark.parametrize(("populate", "shallow"), [(True, False), (False, False), (True, True)])
def test_request_construction_matches_werkzeugs(
    overrides: dict[str, Any], populate: bool, shallow: bool
) -> None:
    theirs_environ, ours_environ = _environ(overrides), _environ(overrides)
    theirs = WerkzeugRequest(theirs_environ, populate_request=populate, shallow=shallow)
    ours = Request(ours_environ, populate_request=populate, shallow=shallow)
    assert vars(theirs), "werkzeug's constructor sets no attribute any more"
    for name, value in vars(theirs).items():
        if name == "environ":
            continue
        mine = getattr(ours, name)
        if name == "headers":
            assert list(mine.items()) == list(value.items())
        else:
            assert mine == value, name
    assert ("werkzeug.request" in ours_environ) == ("werkzeug.request" in theirs_environ)
    assert ours_environ.get("werkzeug.request", ours) is ours
    assert (ours.url, ours.host, ours.args) == (theirs.url, theirs.host, theirs.args)


def test_a_deferred_attribute_loads_once_on_first_read() -> None:
    request = Request(EnvironBuilder().get_environ())
    calls: list[int] = []

    def load() -> str:
        calls.append(1)
        return "alice"

    request.defer("user", load)
    assert "user" not in vars(request)  # nothing read it yet
    assert calls == []
    assert request.user == "alice"
    assert request.user == "alice"
    assert calls == [1]
    assert vars(request)["user"] == "alice"  # a plain attribute from now on


def test_an_assignment_before_the_first_read_wins() -> None:
    request = Request(EnvironBuilder().get_environ())
    request.defer("user", lambda: pytest.fail("the loader ran after an assignment"))
    request.user = "bob"  # what login() does
    assert request.user == "bob"


def test_a_failing_loader_is_tried_again_on_the_next_read() -> None:
    request = Request(EnvironBuilder().get_environ())
    answers: Iterator[Exception | str] = iter([ConnectionError("the user store is down"), "carol"])

    def load() -> str:
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    request.defer("user", load)
    with pytest.raises(ConnectionError):
        request.user  # noqa: B018
    assert request.user == "carol"


def test_an_attribute_nobody_set_is_still_an_attribute_error() -> None:
    request = Request(EnvironBuilder().get_environ())
    request.defer("user", lambda: "alice")
    with pytest.raises(AttributeError, match="'Request' object has no attribute 'session'"):
        request.session  # noqa: B018
    assert getattr(request, "session", None) is None
    assert not hasattr(request, "trace_id")


@pytest.mark.parametrize(
    "data",
    [
        {"visits": 1, "ok": True, "none": None, "ratio": 0.5},
        ["café", "日本", "\u2028", {"nested": [1, [2, {"3": 4}]]}],
        {"lone": "\ud800 surrogate"},
        "just a string",
    ],
)
def test_json_bodies_are_json_dumps_output(data: Any) -> None:
    """The shared encoder writes what json.dumps with the same options writes."""
    expected = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    try:
        body = expected.encode()
    except UnicodeEncodeError:
        body = json.dumps(data, separators=(",", ":")).encode()
    assert JSONResponse(data).get_data() == body


def test_request_headers_are_built_on_first_read() -> None:
    environ = EnvironBuilder(headers=[("X-Token", "t0k3n")]).get_environ()
    request = Request(environ)
    assert "headers" not in vars(request)  # nothing read them: no object built
    assert request.headers["X-Token"] == "t0k3n"
    assert request.headers is request.headers  # built once
    assert list(request.headers) == list(WerkzeugRequest(environ).headers)

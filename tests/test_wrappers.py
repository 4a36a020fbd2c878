"""lback_mw's Response finalises headers exactly as werkzeug's does, only faster."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import pytest
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Response as WerkzeugResponse

from lback_mw import App, JSONResponse, Request, Response
from lback_mw.testing import Client


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

"""lback_mw's Response finalises headers exactly as werkzeug's does, only faster."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Response as WerkzeugResponse

from lback_mw import JSONResponse, Response


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

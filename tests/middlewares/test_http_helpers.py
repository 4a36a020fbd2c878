"""The HTTP helpers the built-ins share: headers and the request target."""

from __future__ import annotations

import pytest
from werkzeug.datastructures import Headers
from werkzeug.test import EnvironBuilder

from lback_mw.middlewares._http import add_vary, header_names, request_target
from lback_mw.wrappers import Request


@pytest.mark.parametrize(
    ("before", "name", "after"),
    [
        ([], "Origin", ["Origin"]),
        (["Accept-Encoding"], "Origin", ["Accept-Encoding, Origin"]),
        (["accept-encoding, ORIGIN"], "Origin", ["accept-encoding, ORIGIN"]),
        (["Cookie", "Accept-Encoding"], "accept-encoding", ["Cookie", "Accept-Encoding"]),
        (["Cookie", "Accept-Encoding"], "Origin", ["Cookie, Origin", "Accept-Encoding"]),
        (["*"], "Origin", ["*"]),
        ([""], "Origin", ["Origin"]),
        (["X-Origin-Id"], "Origin", ["X-Origin-Id, Origin"]),  # a name, not a substring
        (["Accept,  origin "], "Origin", ["Accept,  origin "]),
        (["Accept, *"], "Origin", ["Accept, *"]),
        (["X-Star*"], "Origin", ["X-Star*, Origin"]),
        (["Accept", "Cookie, *"], "Origin", ["Accept", "Cookie, *"]),  # "*" on a later line
    ],
)
def test_add_vary_merges_names(before: list[str], name: str, after: list[str]) -> None:
    headers = Headers([("Content-Type", "text/plain"), *(("Vary", value) for value in before)])
    add_vary(headers, name)
    assert headers.getlist("Vary") == after
    assert headers["Content-Type"] == "text/plain"


def test_header_names_are_lower_case() -> None:
    headers = Headers([("Content-Type", "a"), ("X-Custom", "b"), ("x-custom", "c")])
    assert header_names(headers) == {"content-type", "x-custom"}


@pytest.mark.parametrize(
    ("environ", "target"),
    [
        # A raw target from the server is kept, escapes and all: %2F is not "/".
        ({"RAW_URI": "/a%2Fb?x=%41", "PATH_INFO": "/a/b", "QUERY_STRING": "x=%41"}, "/a%2Fb?x=%41"),
        ({"REQUEST_URI": "/caf%E9", "PATH_INFO": "/caf\xe9"}, "/caf%E9"),
        ({"RAW_URI": "/caf%C3%A9", "PATH_INFO": "/caf\xc3\xa9"}, "/caf%C3%A9"),
        # Mounted under SCRIPT_NAME: the raw target is still the whole path.
        ({"RAW_URI": "/app/x", "SCRIPT_NAME": "/app", "PATH_INFO": "/x"}, "/app/x"),
        # No raw target: PATH_INFO's latin-1 bytes quoted again.
        ({"PATH_INFO": "/caf\xe9/a b%c?"}, "/caf%E9/a%20b%25c%3F"),
        # A proxy fix moved the path under a prefix: the raw target no longer says it.
        ({"RAW_URI": "/x", "SCRIPT_NAME": "/prefix", "PATH_INFO": "/x"}, "/prefix/x"),
        # Absolute-form targets are not paths: rebuilt from PATH_INFO.
        ({"RAW_URI": "http://h/a%2Fb", "PATH_INFO": "/a/b"}, "/a/b"),
        # Stray characters a lax server let through are quoted; escapes stay.
        (
            {"RAW_URI": "/a\xe9b", "PATH_INFO": "/a\xe9b", "QUERY_STRING": "q=\xe9&r=%20"},
            "/a%E9b?q=%E9&r=%20",
        ),
    ],
)
def test_request_target_is_what_the_client_sent(environ: dict[str, str], target: str) -> None:
    base = EnvironBuilder().get_environ()
    for key in ("RAW_URI", "REQUEST_URI"):
        base.pop(key, None)
    assert request_target(Request({**base, **environ})) == target

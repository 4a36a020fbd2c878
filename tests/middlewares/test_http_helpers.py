"""The header helpers the built-ins share."""

from __future__ import annotations

import pytest
from werkzeug.datastructures import Headers

from lback_mw.middlewares._http import add_vary, header_names


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

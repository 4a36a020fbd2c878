"""``middlewares/_cookies.py``'s ``cookie_value``: werkzeug's answer, remembered."""

from __future__ import annotations

import pytest
from werkzeug.sansio.http import parse_cookie

from lback_mw.middlewares._cookies import COOKIE_HEADERS_KEPT, cookie_value

HEADERS = [
    "session=abc",
    "a=1; session=abc.def-ghi_jkl; b=2",
    'session="quoted \\"value\\""',
    "session=first; session=second",  # werkzeug keeps the first
    "other=1",
    "session=",
    ";;; session = spaced ;",
    "session=caf\xe9",  # latin-1 bytes a browser sent raw
    "\xff\xfe\xfd",
    "session",  # a name without a value
    "sessionid=x; session_other=y",
]


@pytest.mark.parametrize("header", HEADERS)
def test_the_value_is_werkzeugs(header: str) -> None:
    expected = parse_cookie(header).get("session")
    assert cookie_value(header, "session") == expected
    assert cookie_value(header, "session") == expected  # and again, remembered


def test_the_name_is_part_of_the_question() -> None:
    header = "session=s; csrftoken=c"
    assert (cookie_value(header, "session"), cookie_value(header, "csrftoken")) == ("s", "c")


def test_only_the_last_headers_are_kept() -> None:
    for number in range(COOKIE_HEADERS_KEPT * 4):
        assert cookie_value(f"session={number}", "session") == str(number)
    assert cookie_value.cache_info().currsize <= COOKIE_HEADERS_KEPT


@pytest.mark.parametrize("header", [None, ""])
def test_no_cookie_header_holds_no_cookie(header: str | None) -> None:
    assert cookie_value(header, "session") is None

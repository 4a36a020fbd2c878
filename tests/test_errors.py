"""ErrorResponder on its own: Flask's handler precedence, the 500 page, and what is logged."""

from __future__ import annotations

from typing import Any

import pytest
from werkzeug.exceptions import Forbidden, HTTPException, NotFound
from werkzeug.test import EnvironBuilder

from lback_mw.errors import ErrorResponder
from lback_mw.wrappers import Request


class Banned(Forbidden):
    pass


def request() -> Request:
    return Request(EnvironBuilder(path="/x").get_environ())


def answer(responder: ErrorResponder, exc: Exception) -> tuple[int, str]:
    response = responder.response_for(request(), exc)
    return response.status_code, response.get_data(as_text=True)


def by(label: str) -> Any:
    return lambda request, exc: (label, 299)


@pytest.mark.parametrize(
    ("keys", "exc", "chosen"),
    [
        # A handler for the subclass beats one for its code, which beats the base classes.
        ([Banned, 403, Forbidden, HTTPException], Banned(), "Banned"),
        ([403, Forbidden, HTTPException], Banned(), "Forbidden"),
        ([403, HTTPException], Banned(), "403"),
        ([HTTPException, Exception], NotFound(), "HTTPException"),
        ([Exception, 500], ValueError(), "Exception"),
        ([500], ValueError(), "500"),
        ([LookupError], KeyError(), "LookupError"),
    ],
)
def test_handler_precedence(keys: list[Any], exc: Exception, chosen: str) -> None:
    responder = ErrorResponder(debug=False)
    for key in keys:
        responder.handlers[key] = by(str(key) if isinstance(key, int) else key.__name__)
    assert answer(responder, exc) == (299, chosen)


def test_http_errors_without_a_handler_keep_their_status() -> None:
    status, body = answer(ErrorResponder(debug=False), NotFound())
    assert status == 404
    assert "Not Found" in body


def test_unhandled_exception_is_a_500_logged_with_its_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    status, body = answer(ErrorResponder(debug=False), ValueError("secret detail"))
    assert status == 500
    assert "secret detail" not in body  # no traceback unless DEBUG
    [record] = caplog.records
    assert record.getMessage() == "Unhandled exception on GET '/x'"
    assert record.exc_info is not None
    assert isinstance(record.exc_info[1], ValueError)


def test_debug_shows_the_traceback_escaped() -> None:
    status, body = answer(ErrorResponder(debug=True), ValueError("<script>"))
    assert status == 500
    assert "Traceback (DEBUG is on)" in body
    assert "ValueError: &lt;script&gt;" in body


def test_a_handler_that_raises_is_a_500_naming_it(caplog: pytest.LogCaptureFixture) -> None:
    responder = ErrorResponder(debug=False)

    def broken(request: Request, exc: Exception) -> Any:
        raise RuntimeError("handler bug")

    responder.handlers[KeyError] = broken
    response = responder.response_for(request(), KeyError("k"))
    assert response.status_code == 500
    assert isinstance(response.unhandled_exception, RuntimeError)  # type: ignore[attr-defined]
    assert "broken raised while handling KeyError on GET '/x'" in caplog.records[0].getMessage()


def test_bad_return_is_a_500_naming_the_hook(caplog: pytest.LogCaptureFixture) -> None:
    response = ErrorResponder(debug=False).bad_return(request(), "M.process_request", 42)
    assert response.status_code == 500
    assert caplog.records[0].getMessage() == (
        "M.process_request returned int, expected a Response, on GET '/x'; answering 500."
    )

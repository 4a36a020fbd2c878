"""The test client, apart from :mod:`lback_mw.testing`: ``App.test_client`` builds one,
and ``testing`` builds apps, so neither module has to import the other's."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Protocol

from werkzeug.middleware.lint import LintMiddleware
from werkzeug.test import Client as _WerkzeugClient
from werkzeug.test import TestResponse as _WerkzeugTestResponse

from .wrappers import Response, ServingApp

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment


class TestedApp(ServingApp, Protocol):
    """What the client drives: a WSGI app a request can reach (:class:`~lback_mw.App`)."""

    def __call__(
        self, environ: WSGIEnvironment, start_response: StartResponse, /
    ) -> Iterable[bytes]: ...


# Both bases declare default_mimetype; it never applies here, since the client
# builds test responses from finished ones.
class TestResponse(Response, _WerkzeugTestResponse):  # type: ignore[misc]
    """What :class:`Client` returns: a :class:`~lback_mw.Response` with werkzeug's
    test helpers (``.text``, ``.json``, ``.request``)."""

    __test__ = False  # not a pytest test class


class Client(_WerkzeugClient):
    """werkzeug's test client over an app, returning :class:`TestResponse`.

    :param lint: run every request through werkzeug's ``LintMiddleware``, which
        warns about anything that breaks the WSGI spec.
    """

    __test__ = False

    def __init__(self, app: TestedApp, *, lint: bool = False, use_cookies: bool = True) -> None:
        wsgi = LintMiddleware(app) if lint else app
        super().__init__(wsgi, response_wrapper=TestResponse, use_cookies=use_cookies)
        self.app = app

    def open(
        self, *args: Any, buffered: bool = True, follow_redirects: bool = False, **kwargs: Any
    ) -> TestResponse:
        """Like werkzeug's, but buffered by default: the body is read and the app's
        iterable closed at once, as a server would. Pass ``buffered=False`` to test
        streaming, and close the response yourself."""
        response = super().open(
            *args, buffered=buffered, follow_redirects=follow_redirects, **kwargs
        )
        assert isinstance(response, TestResponse)  # response_wrapper above
        return response

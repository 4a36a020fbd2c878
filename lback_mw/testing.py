"""Test helpers: a client returning lback_mw responses, and apps from a dict in one line."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from werkzeug.middleware.lint import LintMiddleware
from werkzeug.test import Client as _WerkzeugClient
from werkzeug.test import TestResponse as _WerkzeugTestResponse

from .app import App, create_app
from .wrappers import Response

#: Settings every test app starts from; a test overrides any of them.
TEST_SETTINGS: dict[str, Any] = {"SECRET_KEY": "test-secret-key-not-for-production"}


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

    def __init__(self, app: App, *, lint: bool = False, use_cookies: bool = True) -> None:
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


def make_app(
    settings: dict[str, Any] | None = None,
    /,
    *,
    dependencies: Mapping[str, Any] | None = None,
    **overrides: Any,
) -> App:
    """``make_app(MIDDLEWARES=[...], DEBUG=True)``: an app from settings given inline.

    Starts from :data:`TEST_SETTINGS` (a test ``SECRET_KEY``), then ``settings``,
    then the upper-case ``overrides``; ``dependencies`` go to :func:`create_app`.
    """
    return create_app({**TEST_SETTINGS, **(settings or {}), **overrides}, dependencies=dependencies)


def make_client(settings: dict[str, Any] | None = None, /, **overrides: Any) -> Client:
    """A linted :class:`Client` over :func:`make_app`."""
    return Client(make_app(settings, **overrides), lint=True)

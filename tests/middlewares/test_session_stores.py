"""Server-side sessions on every store (memory, real Redis, SQLite), where the
signed-cookie tests cannot reach: foreign ids, logout then login, closing."""

from __future__ import annotations

import logging
import secrets
import time
from typing import Any

import pytest
import redis
from itsdangerous import BadSignature, URLSafeTimedSerializer

from lback_mw import App, ImproperlyConfigured, Request
from lback_mw.middlewares.session import KEY_PREFIX, SIGNING_SALT, SessionMiddleware
from lback_mw.testing import Client, make_app
from tests.middlewares import test_session as base

backend_url = base.backend_url  # the memory, Redis and SQLite stores
build = base.build
session_cookie = base.session_cookie
stored_keys = base.stored_keys
dead_redis_url = base.dead_redis_url  # a port where nothing listens

TWO_WEEKS = 1209600  # docs/middlewares/session.md: "two weeks"


@pytest.mark.parametrize(
    "cookie",
    [
        pytest.param("", id="empty"),
        pytest.param("abc", id="short"),
        pytest.param("A" * 44, id="one-too-long"),
        pytest.param("A" * 42, id="one-too-short"),
        pytest.param("A" * 42 + "!", id="bad-character"),
        pytest.param("../" * 14 + "x", id="path"),
        pytest.param(secrets.token_urlsafe(32), id="well-formed-but-unknown"),
        pytest.param(base.signed({"user": "eve"}), id="a-signed-cookie-session"),
    ],
)
def test_a_malformed_or_foreign_id_is_an_empty_session_on_every_store(
    app_factory, backend_url, cookie
):
    app = build(app_factory, backend=backend_url)
    response = base.get_with_cookie(app, "/set?user=ada", cookie)
    assert response.status_code == 200
    assert response.json == {"user": "ada"}
    [header] = base.set_cookies(response)
    issued = header.split(";")[0].removeprefix("session=")
    assert issued != cookie
    assert len(issued) == 43
    [key] = stored_keys(app)
    assert key.endswith(KEY_PREFIX + issued)


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b"\x80not json", id="not-json"),
        pytest.param(b"[1, 2]", id="a-list"),
        pytest.param(b'"ada"', id="a-string"),
    ],
)
def test_stored_data_that_is_not_a_dict_is_an_empty_session_on_every_store(
    app_factory, client_for, backend_url, raw
):
    app = build(app_factory, backend=backend_url)
    client = client_for(app)
    client.get("/set?user=ada")
    session_id = str(session_cookie(client))
    backend = app.configured_middleware[0].instance.backend
    backend.set(KEY_PREFIX + session_id, raw, 60)
    assert client.get("/get").json == {}
    client.get("/set?user=bob")
    assert session_cookie(client) != session_id  # never adopted: a fresh id


def test_clear_then_store_moves_to_a_new_id_on_every_store(app_factory, client_for, backend_url):
    """Logout then login in one request: the old id must load nothing (fixation)."""
    app = build(app_factory, backend=backend_url)

    @app.route("/relogin")
    def relogin(request: Request) -> dict[str, Any]:
        request.session.clear()
        request.session["user"] = "bob"
        return dict(request.session)

    client = client_for(app)
    client.get("/set?user=ada&cart=3")
    old = str(session_cookie(client))
    assert client.get("/relogin").json == {"user": "bob"}
    new = session_cookie(client)
    assert new is not None
    assert new != old
    [key] = stored_keys(app)
    assert key.endswith(KEY_PREFIX + new)
    assert base.get_with_cookie(app, "/get", old).json == {}
    assert client.get("/get").json == {"user": "bob"}


def test_an_explicit_secret_key_wins_over_the_setting(app_factory, client_for):
    own_key = "k" * 40
    app = build(app_factory, {"SECRET_KEY": "s" * 40}, secret_key=own_key)
    client = client_for(app)
    client.get("/set?user=ada")
    cookie = str(session_cookie(client))
    assert URLSafeTimedSerializer(own_key, salt=SIGNING_SALT).loads(cookie) == {"user": "ada"}
    with pytest.raises(BadSignature):
        URLSafeTimedSerializer("s" * 40, salt=SIGNING_SALT).loads(cookie)


def test_explicit_secret_key_fallbacks_win_over_the_setting(app_factory):
    app = build(
        app_factory,
        {"SECRET_KEY": "s" * 40, "SECRET_KEY_FALLBACKS": ["f" * 40]},
        secret_key_fallbacks=["p" * 40],
    )
    assert base.get_with_cookie(app, "/get", base.signed({"a": 1}, key="p" * 40)).json == {"a": 1}
    assert base.get_with_cookie(app, "/get", base.signed({"a": 1}, key="f" * 40)).json == {}


def test_the_default_cookie_max_age_is_two_weeks_for_the_cookie_and_the_store(
    app_factory, client_for, redis_url
):
    header = base.set_cookies(client_for(build(app_factory)).get("/set?a=1"))[0]
    assert f"Max-Age={TWO_WEEKS}" in header
    client = client_for(build(app_factory, backend=redis_url))
    assert f"Max-Age={TWO_WEEKS}" in base.set_cookies(client.get("/set?a=1"))[0]
    probe = redis.Redis.from_url(redis_url)
    try:
        [key] = probe.keys("*")
        assert TWO_WEEKS - 60 <= probe.ttl(key) <= TWO_WEEKS
    finally:
        probe.close()


def test_cookie_max_age_of_one_second_is_accepted(app_factory, client_for):
    header = base.set_cookies(client_for(build(app_factory, cookie_max_age=1)).get("/set?a=1"))[0]
    assert "Max-Age=1;" in header


def _connections(probe: redis.Redis) -> set[str]:
    """The ids of the server's client connections (other tests' may come and go)."""
    return {str(client["id"]) for client in probe.client_list()}


def test_closing_the_app_releases_the_redis_connections(app_factory, client_for, redis_url):
    probe = redis.Redis.from_url(redis_url)
    try:
        before = _connections(probe)
        app: App = build(app_factory, backend=redis_url)
        client_for(app).get("/set?a=1")
        opened = _connections(probe) - before - {str(probe.client_id())}
        assert opened, "the store opened no connection of its own"
        app.close()
        deadline = time.monotonic() + 10  # the server notices a closed socket on its next tick
        while opened & _connections(probe) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert not opened & _connections(probe)
    finally:
        probe.close()


def test_closing_the_app_releases_the_database_connections(app_factory, client_for, tmp_path):
    app = build(app_factory, backend=f"sqlite:///{tmp_path / 'sessions.db'}")
    client_for(app).get("/set?a=1")
    pool = app.configured_middleware[0].instance.backend._engine.pool
    assert pool.checkedin() >= 1
    app.close()
    assert pool.checkedin() == 0


def test_established_means_stored_and_staying_put_on_every_store(
    app_factory, client_for, backend_url
):
    app = build(app_factory, backend=backend_url)
    seen: list[bool] = []

    @app.route("/established")
    def established(request: Request) -> str:
        seen.append(request.session.established)
        if "rotate" in request.args:
            request.session.rotate()
            seen.append(request.session.established)
        return "ok"

    client = client_for(app)
    client.get("/established")  # no session yet
    client.get("/set?user=ada")
    client.get("/established")  # stored, and not moving
    client.get("/established?rotate=1")  # moving to a new id in this request
    assert seen == [False, True, True, False]


def test_a_signed_cookie_session_is_always_established(app_factory, client_for):
    app = build(app_factory)
    app.route("/established")(lambda request: str(request.session.established))
    assert client_for(app).get("/established").text == "True"


def test_a_store_refusing_every_new_id_is_a_loud_error(
    app_factory, client_for, backend_url, monkeypatch, caplog
):
    app = build(app_factory, middleware=base.ShopSessions, backend=backend_url)
    backend = app.configured_middleware[0].instance.backend
    monkeypatch.setattr(backend, "add", lambda key, value, ttl: False)
    with caplog.at_level(logging.ERROR):
        response = client_for(app).get("/set?user=ada")
    assert response.status_code == 500
    assert base.set_cookies(response) == []
    assert "ShopSessions: 5 new random session ids were all taken in" in caplog.text
    assert "the store is not honouring add()" in caplog.text


def test_data_that_is_not_json_is_logged_without_the_whole_id(
    app_factory, client_for, backend_url, caplog
):
    app = build(app_factory, backend=backend_url)
    client = client_for(app)
    client.get("/set?user=ada")
    session_id = str(session_cookie(client))
    app.configured_middleware[0].instance.backend.set(KEY_PREFIX + session_id, b"\x80", 60)
    with caplog.at_level(logging.WARNING, logger="lback_mw.middlewares.session"):
        assert client.get("/get").json == {}
    assert f"Session {session_id[:6]}... holds data that is not JSON" in caplog.text
    assert session_id[:7] not in caplog.text


def test_a_bare_middleware_signs_with_its_own_key_alone():
    middleware = SessionMiddleware(secret_key="k" * 40)
    app = make_app(MIDDLEWARES=[])
    app.use(middleware)
    app.route("/set")(lambda request: request.session.update(a=1) or "ok")
    try:
        [header] = Client(app).get("/set").headers.getlist("Set-Cookie")
    finally:
        app.close()
    value = header.split(";")[0].removeprefix("session=")
    assert URLSafeTimedSerializer("k" * 40, salt=SIGNING_SALT).loads(value) == {"a": 1}


def test_a_host_prefixed_cookie_needs_the_root_path(app_factory, client_for):
    client = client_for(
        build(app_factory, cookie_name="__Host-s", cookie_secure=True, cookie_path="/")
    )
    assert client.get("/set?a=1").headers["Set-Cookie"].startswith("__Host-s=")
    with pytest.raises(ImproperlyConfigured, match="needs cookie_path '/' and no cookie_domain"):
        build(app_factory, cookie_name="__Host-s", cookie_secure=True, cookie_path="/app")


def test_the_session_repr_says_whether_it_was_loaded_and_changed(app_factory, client_for):
    app = build(app_factory)
    shown: list[str] = []

    @app.route("/repr")
    def show(request: Request) -> str:
        shown.append(repr(request.session))
        request.session["a"] = 1
        shown.append(repr(request.session))
        return "ok"

    client_for(app).get("/repr")
    assert shown == ["<Session not loaded>", "<Session {'a': 1} modified>"]


def test_a_bare_middleware_logs_an_unreachable_store_with_its_own_logger(caplog, dead_redis_url):
    app = make_app(MIDDLEWARES=[])
    app.use(SessionMiddleware(backend=dead_redis_url))
    app.route("/set")(lambda request: request.session.update(a=1) or "ok")
    try:
        with caplog.at_level(logging.ERROR, logger="lback_mw.middlewares.session"):
            response = Client(app).get("/set")
    finally:
        app.close()
    assert response.status_code == 503
    assert "Session store unavailable" in caplog.text

"""SessionMiddleware: signed-cookie and server-side sessions, and the ways they are attacked."""

from __future__ import annotations

import datetime
import json
import logging
import secrets
import socket
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
import redis
from itsdangerous import BadSignature, TimestampSigner, URLSafeTimedSerializer
from markupsafe import Markup
from sqlalchemy import inspect, select

from lback_mw import App, ImproperlyConfigured, Request, Response
from lback_mw.backends import BackendUnavailable
from lback_mw.backends.database import store_table
from lback_mw.middlewares import _tagged_json
from lback_mw.middlewares.session import (
    KEY_PREFIX,
    SIGNING_SALT,
    Session,
    SessionMiddleware,
)
from lback_mw.testing import TEST_SETTINGS, Client

KEY = TEST_SETTINGS["SECRET_KEY"]
SESSION = "lback_mw.middlewares.SessionMiddleware"


class ShopSessions(SessionMiddleware):
    """A project's subclass: errors must name it, the class its settings list."""


def build(
    app_factory: Callable[..., App],
    settings: dict[str, Any] | None = None,
    /,
    *,
    middleware: str | type[SessionMiddleware] = SESSION,
    **params: Any,
) -> App:
    """An app with SessionMiddleware(**params) (or ``middleware``) and views that
    use the session."""
    app = app_factory(settings or {}, MIDDLEWARES=[{"class": middleware, "params": params}])

    @app.route("/get")
    def get(request: Request) -> dict[str, Any]:
        return dict(request.session)

    @app.route("/set")
    def set_(request: Request) -> dict[str, Any]:
        request.session.update(request.args.to_dict())
        return dict(request.session)

    @app.route("/untouched")
    def untouched(request: Request) -> str:
        return "no session here"

    @app.route("/rotate")
    def rotate(request: Request) -> str:
        request.session.rotate()
        return "rotated"

    @app.route("/clear")
    def clear(request: Request) -> str:
        request.session.clear()
        return "cleared"

    @app.route("/append")
    def append(request: Request) -> dict[str, Any]:
        request.session["cart"].append(request.args["item"])
        if "mark" in request.args:
            request.session.modified = True
        return dict(request.session)

    return app


def signed(data: Any, key: str = KEY, age: int = 0) -> str:
    """A session cookie value as the middleware would have written it ``age`` seconds ago."""

    class PastSigner(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(time.time()) - age

    return URLSafeTimedSerializer(key, salt=SIGNING_SALT, signer=PastSigner).dumps(data)


def get_with_cookie(app: App, path: str, value: str, name: str = "session") -> Any:
    """GET ``path`` with exactly this Cookie header (a client's cookie jar would replace it)."""
    return Client(app, lint=True, use_cookies=False).get(
        path, headers={"Cookie": f"{name}={value}"}
    )


def set_cookies(response: Any) -> list[str]:
    return list(response.headers.getlist("Set-Cookie"))


def session_cookie(client: Client, name: str = "session") -> str | None:
    cookie = client.get_cookie(name)
    return None if cookie is None else cookie.value


# -- signed cookies ---------------------------------------------------------------


def test_session_round_trips_through_a_signed_cookie(app_factory, client_for):
    client = client_for(build(app_factory))
    response = client.get("/set?user=ada")
    assert response.json == {"user": "ada"}
    [header] = set_cookies(response)
    assert header.startswith("session=")
    assert "HttpOnly" in header
    assert "SameSite=Lax" in header
    assert "Path=/" in header
    assert "Max-Age=1209600" in header  # two weeks, as documented
    assert "Secure" not in header  # a plain-HTTP request
    assert client.get("/get").json == {"user": "ada"}


def test_an_untouched_session_writes_nothing_and_does_not_vary(app_factory, client_for):
    client = client_for(build(app_factory))
    response = client.get("/untouched")
    assert set_cookies(response) == []
    assert "Vary" not in response.headers


def test_a_read_session_varies_on_cookie_but_writes_nothing(app_factory, client_for):
    client = client_for(build(app_factory))
    response = client.get("/get")
    assert response.json == {}
    assert set_cookies(response) == []
    assert response.headers["Vary"] == "Cookie"


def test_vary_cookie_is_merged_into_the_views_vary(app_factory, client_for):
    app = build(app_factory)

    @app.route("/varied")
    def varied(request: Request) -> Response:
        request.session.get("anything")
        return Response("x", headers={"Vary": "Accept-Encoding"})

    response = client_for(app).get("/varied")
    assert response.headers.getlist("Vary") == ["Accept-Encoding, Cookie"]


def test_an_unchanged_session_is_not_written_again(app_factory, client_for):
    client = client_for(build(app_factory))
    client.get("/set?user=ada")
    response = client.get("/get")
    assert response.json == {"user": "ada"}
    assert set_cookies(response) == []


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("garbage", id="garbage"),
        pytest.param("e30.AAAAAA.AAAAAAAAAAAAAAAAAAAAAAAAAAA", id="forged-shape"),
        pytest.param("\xff\xfe\xfd", id="not-utf-8"),
        pytest.param("a" * 10_000, id="oversized"),
        pytest.param(signed(["not", "a", "dict"]), id="not-a-dict"),
    ],
)
def test_a_bad_cookie_is_an_empty_session_not_an_error(app_factory, value):
    response = get_with_cookie(build(app_factory), "/get", value)
    assert response.status_code == 200
    assert response.json == {}


def test_a_tampered_cookie_is_an_empty_session(app_factory):
    app = build(app_factory)
    genuine = signed({"user": "ada"})
    assert get_with_cookie(app, "/get", genuine).json == {"user": "ada"}
    _, timestamp, signature = genuine.split(".")
    forged_payload = signed({"user": "admin"}).split(".")[0]
    tampered = f"{forged_payload}.{timestamp}.{signature}"
    assert get_with_cookie(app, "/get", tampered).json == {}


def test_a_cookie_signed_with_another_key_is_an_empty_session(app_factory):
    forged = signed({"user": "admin"}, key="the-attackers-guess-at-the-key")
    assert get_with_cookie(build(app_factory), "/get", forged).json == {}


def test_a_cookie_signed_for_another_purpose_is_an_empty_session(app_factory):
    # The same key and payload under another salt (a CSRF cookie, say) is no session.
    other = URLSafeTimedSerializer(KEY, salt="lback_mw.csrf").dumps({"user": "admin"})
    assert get_with_cookie(build(app_factory), "/get", other).json == {}


def test_an_expired_cookie_is_an_empty_session(app_factory):
    old = signed({"user": "ada"}, age=120)
    assert get_with_cookie(build(app_factory, cookie_max_age=600), "/get", old).json == {
        "user": "ada"
    }
    assert get_with_cookie(build(app_factory, cookie_max_age=60), "/get", old).json == {}


def test_a_cookie_signed_with_a_fallback_key_loads_and_is_resigned(app_factory, client_for):
    new_key, old_key = "the-new-secret-key-after-rotation!", "the-old-secret-key-before-rotation"
    app = build(app_factory, {"SECRET_KEY": new_key, "SECRET_KEY_FALLBACKS": [old_key]})
    old_cookie = signed({"user": "ada"}, key=old_key)
    assert get_with_cookie(app, "/get", old_cookie).json == {"user": "ada"}
    client = client_for(app)
    client.set_cookie("session", old_cookie)
    assert client.get("/set?seen=1").json == {"user": "ada", "seen": "1"}
    written = session_cookie(client)
    assert written is not None
    assert URLSafeTimedSerializer(new_key, salt=SIGNING_SALT).loads(written) == {
        "user": "ada",
        "seen": "1",
    }
    with pytest.raises(BadSignature):
        URLSafeTimedSerializer(old_key, salt=SIGNING_SALT).loads(written)
    # Without the fallback, the old cookie no longer loads.
    strict = build(app_factory, {"SECRET_KEY": new_key})
    assert get_with_cookie(strict, "/get", old_cookie).json == {}


def test_nested_mutation_is_saved_only_when_marked(app_factory, client_for):
    client = client_for(build(app_factory))
    client.set_cookie("session", signed({"cart": ["apple"]}))
    response = client.get("/append?item=pear")
    assert response.json == {"cart": ["apple", "pear"]}
    assert set_cookies(response) == []  # like Django: in-place changes are not seen
    assert client.get("/get").json == {"cart": ["apple"]}
    client.get("/append?item=plum&mark=1")
    assert client.get("/get").json == {"cart": ["apple", "plum"]}


def test_clear_deletes_the_cookie_with_the_same_path_and_domain(app_factory, client_for):
    app = build(app_factory, cookie_path="/", cookie_domain="example.com")
    client = client_for(app)
    client.set_cookie("session", signed({"user": "ada"}), domain="example.com")
    response = client.get("/clear", base_url="http://example.com")
    [header] = set_cookies(response)
    assert header.startswith("session=;")
    assert "Max-Age=0" in header
    assert "Expires=Thu, 01 Jan 1970 00:00:00 GMT" in header
    assert "Path=/" in header
    assert "Domain=example.com" in header


def test_clear_then_store_writes_a_fresh_session(app_factory, client_for):
    app = build(app_factory)

    @app.route("/logout")
    def logout(request: Request) -> str:
        request.session.clear()
        request.session["flash"] = "bye"
        return "ok"

    client = client_for(app)
    client.set_cookie("session", signed({"user": "ada"}))
    client.get("/logout")
    assert client.get("/get").json == {"flash": "bye"}


def test_rotate_rewrites_the_cookie_with_the_same_data(app_factory, client_for):
    client = client_for(build(app_factory))
    client.get("/set?user=ada")
    response = client.get("/rotate")
    assert len(set_cookies(response)) == 1
    assert client.get("/get").json == {"user": "ada"}


def test_a_view_cookie_and_the_session_cookie_both_survive(app_factory, client_for):
    app = build(app_factory)

    @app.route("/both")
    def both(request: Request) -> Response:
        request.session["user"] = "ada"
        response = Response("ok")
        response.set_cookie("theme", "dark")
        response.set_cookie("lang", "fr")
        return response

    response = client_for(app).get("/both")
    names = sorted(header.partition("=")[0] for header in set_cookies(response))
    assert names == ["lang", "session", "theme"]


def test_an_oversized_session_is_refused_loudly(app_factory, client_for, caplog):
    client = client_for(build(app_factory))
    incompressible = secrets.token_urlsafe(4000)
    with caplog.at_level(logging.ERROR):
        response = client.get(f"/set?blob={incompressible}")
    assert response.status_code == 500
    assert set_cookies(response) == []
    message = caplog.text
    assert "would be" in message
    assert "bytes" in message
    assert "4093" in message
    assert "'blob'" in message
    assert "SESSION_BACKEND" in message


def test_an_oversized_session_names_its_size_on_the_debug_page(app_factory, client_for, caplog):
    client = client_for(build(app_factory, {"DEBUG": True}))
    with caplog.at_level(logging.CRITICAL):
        response = client.get(f"/set?blob={secrets.token_urlsafe(4000)}")
    assert response.status_code == 500
    assert "SessionCookieTooLarge" in response.text
    assert "browsers drop cookies over 4093 bytes" in response.text


#: What Flask's tagged serializer round-trips, nested inside the JSON types too.
RICH_VALUES: dict[str, Any] = {
    "tuple": (1, "two", (3.0, None)),
    "bytes": b"\x00\xffraw",
    "naive datetime": datetime.datetime(2026, 12, 3, 18, 30, 15, 123456),
    "aware datetime": datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.UTC),
    "uuid": uuid.UUID("12345678-1234-5678-1234-567812345678"),
    "markup": Markup("<b>bold</b>"),
    "a dict whose only key is a tag": {" t": [1, 2]},
    "nested": {"when": [datetime.datetime(2000, 1, 1)], "ids": (uuid.UUID(int=1),)},
    "lone surrogate": "\ud800",
}


def rich_app(app_factory: Callable[..., App], **params: Any) -> tuple[App, list[Any]]:
    """An app storing every RICH_VALUES value, and a list of what /read loads back."""
    app = build(app_factory, **params)
    read: list[Any] = []

    @app.route("/store")
    def store(request: Request) -> str:
        request.session.update(RICH_VALUES)
        return "stored"

    @app.route("/read")
    def load(request: Request) -> str:
        read.append(dict(request.session))
        return "read"

    return app, read


def test_rich_values_round_trip_through_a_signed_cookie(app_factory, client_for):
    app, read = rich_app(app_factory)
    client = client_for(app)
    assert client.get("/store").status_code == 200
    client.get("/read")
    client.get("/read")  # the second load comes from the verified-cookie cache
    assert read == [RICH_VALUES, RICH_VALUES]
    assert type(read[1]["markup"]) is Markup
    assert type(read[1]["tuple"][2]) is tuple


def test_rich_values_round_trip_through_each_store(app_factory, client_for, backend_url):
    app, read = rich_app(app_factory, backend=backend_url)
    client = client_for(app)
    assert client.get("/store").status_code == 200
    client.get("/read")
    assert read == [RICH_VALUES]
    assert type(read[0]["markup"]) is Markup


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        pytest.param(
            "when",
            object(),
            "request.session['when'] = object: object <object object at",
            id="object",
        ),
        pytest.param(
            "day",
            datetime.date(2026, 1, 1),
            "session['day'] = date: date datetime.date(2026, 1, 1) cannot be stored; store str,"
            " int, float, bool, None, list, tuple, dict, bytes, datetime.datetime, uuid.UUID"
            " and markupsafe.Markup.",
            id="a date",
        ),
        pytest.param("deep", [{"s": {1, 2}}], "session['deep'] = list: set {1, 2}", id="nested"),
        pytest.param("keys", {(1, 2): "x"}, "dict key of type tuple", id="tuple as dict key"),
    ],
)
def test_an_unstorable_value_is_a_type_error_at_assignment(
    app_factory, client_for, key, value, message
):
    app = build(app_factory)
    raised: list[str] = []

    @app.route("/bad")
    def bad(request: Request) -> str:
        with pytest.raises(TypeError) as info:
            request.session[key] = value
        raised.append(str(info.value))
        return "ok"

    response = client_for(app).get("/bad")
    assert response.status_code == 200
    assert message in raised[0]
    assert set_cookies(response) == []  # nothing was stored


@pytest.mark.parametrize("backend", [None, "memory://"], ids=["signed-cookie", "memory"])
def test_a_value_changed_in_place_to_unstorable_is_an_error_at_save(
    app_factory, client_for, caplog, backend
):
    app = build(app_factory, middleware=ShopSessions, backend=backend)

    @app.route("/bad")
    def bad(request: Request) -> str:
        request.session["cart"] = []
        request.session["cart"].append(object())
        return "ok"

    with caplog.at_level(logging.ERROR):
        response = client_for(app).get("/bad")
    assert response.status_code == 500
    assert "ShopSessions stores sessions as tagged JSON" in caplog.text


def test_secure_follows_the_request_unless_set(app_factory, client_for):
    auto = client_for(build(app_factory))
    [https] = set_cookies(auto.get("/set?a=1", base_url="https://localhost"))
    assert "Secure" in https
    [http] = set_cookies(auto.get("/set?a=1"))
    assert "Secure" not in http
    forced = client_for(build(app_factory, cookie_secure=True, cookie_samesite="None"))
    [header] = set_cookies(forced.get("/set?a=1"))
    assert "Secure" in header
    assert "SameSite=None" in header


def test_cookie_max_age_none_makes_a_browser_session_cookie(app_factory, client_for):
    client = client_for(build(app_factory, cookie_max_age=None))
    [header] = set_cookies(client.get("/set?a=1"))
    assert "Max-Age" not in header
    assert "Expires" not in header
    # The signature still expires: after the default lifetime.
    stale = signed({"a": "1"}, age=1209600 + 60)  # two weeks, as documented
    assert get_with_cookie(client.app, "/get", stale).json == {}


def test_refresh_each_request_rewrites_an_unmodified_session(app_factory, client_for):
    plain = client_for(build(app_factory))
    plain.get("/set?a=1")
    assert set_cookies(plain.get("/untouched")) == []
    sliding = client_for(build(app_factory, refresh_each_request=True))
    sliding.get("/set?a=1")
    response = sliding.get("/untouched")
    [header] = set_cookies(response)
    assert header.startswith("session=")
    # The view never looked at it, but the response carries the visitor's cookie:
    # a shared cache must not replay that Set-Cookie to everyone else.
    assert response.headers["Vary"] == "Cookie"
    # An empty session is never refreshed into existence.
    fresh = build(app_factory, refresh_each_request=True)
    assert set_cookies(get_with_cookie(fresh, "/untouched", "junk")) == []


def test_cookie_name_is_configurable(app_factory, client_for):
    client = client_for(build(app_factory, cookie_name="__Host-sid", cookie_secure=True))
    [header] = set_cookies(client.get("/set?a=1", base_url="https://localhost"))
    assert header.startswith("__Host-sid=")


def test_session_mapping_behaviour(app_factory, client_for):
    app = build(app_factory)
    seen: dict[str, Any] = {}

    @app.route("/mapping")
    def mapping(request: Request) -> str:
        session: Session = request.session
        seen["lazy"] = repr(session)
        session.setdefault("n", 1)
        seen["contains"] = "n" in session
        seen["len"] = len(session)
        seen["popped"] = session.pop("n")
        seen["modified"] = session.modified
        return "ok"

    client_for(app).get("/mapping")
    assert seen == {
        "lazy": "<Session not loaded>",
        "contains": True,
        "len": 1,
        "popped": 1,
        "modified": True,
    }


# -- configuration ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "message"),
    [
        pytest.param(
            {"cookie_samesite": "Loose"},
            "cookie_samesite must be 'Lax', 'Strict' or 'None'",
            id="ss",
        ),
        pytest.param(
            {"cookie_samesite": "None"},
            "cookie_samesite 'None' needs cookie_secure=True",
            id="ss-none",
        ),
        pytest.param(
            {"cookie_max_age": 0}, "cookie_max_age must be a positive number", id="max-age"
        ),
        pytest.param({"cookie_name": "my session"}, "is not a valid cookie name", id="name"),
        pytest.param({"cookie_name": "__Secure-s"}, "needs cookie_secure=True", id="secure-prefix"),
        pytest.param(
            {"cookie_name": "__Host-s", "cookie_secure": True, "cookie_domain": "example.com"},
            "needs cookie_path '/' and no cookie_domain",
            id="host-prefix",
        ),
        pytest.param({"backend": "memcache://x"}, "unknown scheme 'memcache'", id="backend"),
    ],
)
def test_bad_configuration_is_refused_at_start_up(app_factory, params, message):
    with pytest.raises(ImproperlyConfigured, match="SessionMiddleware") as info:
        build(app_factory, **params)
    assert message in str(info.value)


def test_an_empty_secret_key_is_refused_for_cookie_sessions(app_factory):
    with pytest.raises(ImproperlyConfigured, match="SECRET_KEY is empty") as info:
        build(app_factory, {"SECRET_KEY": "", "DEBUG": True})
    assert "SessionMiddleware" in str(info.value)
    # Server-side sessions sign nothing, so they need no key.
    build(app_factory, {"SECRET_KEY": "", "DEBUG": True}, backend="memory://")


def test_the_session_backend_setting_selects_server_side_sessions(app_factory, client_for):
    client = client_for(build(app_factory, {"SESSION_BACKEND": "memory://"}))
    client.get("/set?a=1")
    value = session_cookie(client)
    assert value is not None
    assert len(value) == 43  # an id, not the data
    assert client.get("/get").json == {"a": "1"}


def test_the_middleware_can_be_built_directly():
    middleware = SessionMiddleware(secret_key="k" * 40, secret_key_fallbacks=["old" * 12])
    assert middleware.cookie_name == "session"


# -- server-side stores ---------------------------------------------------------


@pytest.fixture(params=["memory", "redis", "sqlite", "postgresql"])
def backend_url(request: pytest.FixtureRequest) -> str:
    """Each real store: one process's memory, Redis, and a SQLite file and a
    PostgreSQL database through the database backend."""
    if request.param == "memory":
        return "memory://"
    if request.param == "redis":
        return str(request.getfixturevalue("redis_url"))
    return str(request.getfixturevalue(f"{request.param}_database"))


def stored_keys(app: App) -> list[str]:
    """The session keys the app's store holds, read from the store itself."""
    backend = app.configured_middleware[0].instance.backend
    url = backend.url
    if url.startswith("redis://"):
        client = redis.Redis.from_url(url, decode_responses=True)
        try:
            return sorted(map(str, client.keys("*")))
        finally:
            client.close()
    if url == "memory://":
        return sorted(backend._entries)
    # The database backend: its own engine (its url hides any password).
    engine = backend._engine
    if not inspect(engine).has_table(store_table.name):
        return []
    with engine.connect() as conn:
        return sorted(conn.execute(select(store_table.c.key)).scalars())


def test_server_side_session_round_trips(app_factory, client_for, backend_url):
    app = build(app_factory, backend=backend_url)
    client = client_for(app)
    client.get("/set?user=ada")
    session_id = session_cookie(client)
    assert session_id is not None
    assert len(session_id) == 43
    assert "ada" not in session_id
    [key] = stored_keys(app)
    assert key.endswith(KEY_PREFIX + session_id)
    assert client.get("/get").json == {"user": "ada"}
    client.get("/set?lang=fr")
    assert session_cookie(client) == session_id  # same id while not rotated
    assert client.get("/get").json == {"user": "ada", "lang": "fr"}


def test_anonymous_requests_store_nothing(app_factory, client_for, backend_url):
    app = build(app_factory, backend=backend_url)
    client = client_for(app)
    for path in ("/untouched", "/get", "/rotate", "/clear"):
        assert set_cookies(client.get(path)) == []
    assert stored_keys(app) == []


def test_anonymous_requests_leave_redis_empty(app_factory, client_for, redis_url):
    client = client_for(build(app_factory, backend=redis_url))
    for path in ("/untouched", "/get", "/rotate", "/clear"):
        client.get(path)
    client.set_cookie("session", "A" * 43)
    client.get("/get")
    probe = redis.Redis.from_url(redis_url)
    try:
        assert probe.dbsize() == 0
        client.get("/set?a=1")
        assert probe.dbsize() == 1
    finally:
        probe.close()


def test_a_client_chosen_id_is_never_adopted(app_factory, client_for, backend_url):
    app = build(app_factory, backend=backend_url)
    client = client_for(app)
    planted = secrets.token_urlsafe(32)
    client.set_cookie("session", planted)
    assert client.get("/get").json == {}
    client.get("/set?user=ada")
    issued = session_cookie(client)
    assert issued != planted
    assert not any(key.endswith(planted) for key in stored_keys(app))


def test_rotate_moves_the_data_to_a_new_id(app_factory, client_for, backend_url):
    app = build(app_factory, backend=backend_url)
    client = client_for(app)
    client.get("/set?user=ada")
    before = session_cookie(client)
    client.get("/rotate")
    after = session_cookie(client)
    assert after is not None
    assert after != before
    assert client.get("/get").json == {"user": "ada"}
    [key] = stored_keys(app)
    assert key.endswith(after)
    # The fixated id loads nothing any more.
    attacker = client_for(app)
    attacker.set_cookie("session", str(before))
    assert attacker.get("/get").json == {}


def test_a_store_failing_during_rotate_loses_no_data(
    app_factory, client_for, backend_url, monkeypatch
):
    """The old id is deleted only once the data is stored under the new one."""
    app = build(app_factory, backend=backend_url)
    client = client_for(app)
    client.get("/set?user=ada")
    before = session_cookie(client)
    backend = app.configured_middleware[0].instance.backend

    def failing_add(key: str, value: bytes, ttl: int) -> bool:
        raise BackendUnavailable("the store went away mid-request")

    monkeypatch.setattr(backend, "add", failing_add)
    response = client.get("/rotate")
    assert response.status_code == 503
    assert set_cookies(response) == []
    monkeypatch.undo()
    assert session_cookie(client) == before
    assert client.get("/get").json == {"user": "ada"}  # still there, under the old id


def test_a_session_ended_by_a_concurrent_request_stays_ended(
    app_factory, client_for, backend_url, caplog
):
    """A request that loaded the session before another one logged out (or logged
    in, rotating the id) must not write it back: that would undo the logout."""
    app = build(app_factory, backend=backend_url)
    backend = app.configured_middleware[0].instance.backend

    @app.route("/slow")
    def slow(request: Request) -> str:
        user = request.session["user"]  # loaded...
        backend.delete(KEY_PREFIX + request.session.key)  # ...then a logout elsewhere
        request.session["seen"] = user
        return "done"

    client = client_for(app)
    client.get("/set?user=ada")
    session_id = session_cookie(client)
    with caplog.at_level(logging.INFO, logger="lback_mw.middlewares.session"):
        response = client.get("/slow")
    assert response.status_code == 200
    assert set_cookies(response) == []  # the logout's cookie deletion stands
    assert stored_keys(app) == []
    assert get_with_cookie(app, "/get", str(session_id)).json == {}
    assert "a concurrent request ended the session" in caplog.text


def test_clear_deletes_the_stored_data_and_the_cookie(app_factory, client_for, backend_url):
    app = build(app_factory, backend=backend_url)
    client = client_for(app)
    client.get("/set?user=ada")
    old = session_cookie(client)
    [header] = set_cookies(client.get("/clear"))
    assert "Max-Age=0" in header
    assert stored_keys(app) == []
    replay = client_for(app)
    replay.set_cookie("session", str(old))
    assert replay.get("/get").json == {}


def test_stored_data_expires_with_max_age(app_factory, client_for, redis_url):
    client = client_for(build(app_factory, backend=redis_url, cookie_max_age=300))
    client.get("/set?a=1")
    probe = redis.Redis.from_url(redis_url)
    try:
        [key] = probe.keys("*")
        assert 290 <= probe.ttl(key) <= 300
    finally:
        probe.close()


def test_refresh_each_request_extends_the_stored_ttl(app_factory, client_for, redis_url):
    client = client_for(build(app_factory, backend=redis_url, refresh_each_request=True))
    client.get("/set?a=1")
    probe = redis.Redis.from_url(redis_url)
    try:
        [key] = probe.keys("*")
        probe.expire(key, 10)
        assert len(set_cookies(client.get("/untouched"))) == 1
        assert probe.ttl(key) > 10
    finally:
        probe.close()


def test_corrupt_stored_data_is_an_empty_session(app_factory, client_for, redis_url):
    app = build(app_factory, backend=redis_url)
    client = client_for(app)
    client.get("/set?a=1")
    probe = redis.Redis.from_url(redis_url)
    try:
        [key] = probe.keys("*")
        probe.set(key, b"\x80not json")
        assert client.get("/get").json == {}
        probe.set(key, json.dumps([1, 2]))
        assert client.get("/get").json == {}
    finally:
        probe.close()


@pytest.fixture
def dead_redis_url() -> str:
    """A Redis URL on a port where nothing listens."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"redis://127.0.0.1:{port}/0"


@pytest.mark.parametrize(
    "path",
    [pytest.param("/get", id="load"), pytest.param("/set?a=1", id="save")],
)
def test_an_unreachable_store_is_a_503_not_a_logout(
    app_factory, client_for, dead_redis_url, caplog, path
):
    client = client_for(build(app_factory, backend=dead_redis_url))
    if path == "/get":
        client.set_cookie("session", secrets.token_urlsafe(32))
    with caplog.at_level(logging.ERROR):
        response = client.get(path)
    assert response.status_code == 503
    # Problem details, as every 4xx and 5xx the built-ins answer themselves.
    assert response.mimetype == "application/problem+json"
    assert response.json == {
        "type": "about:blank",
        "title": "Service Unavailable",
        "status": 503,
        "detail": "The session store cannot be reached. Please try again in a moment.",
    }
    assert set_cookies(response) == []  # the browser keeps its session cookie
    assert "Session store unavailable" in caplog.text
    assert "127.0.0.1" in caplog.text


@pytest.mark.parametrize("store", ["dead redis", "raising store"])
def test_an_outage_is_a_503_under_the_access_log_and_authentication(
    app_factory: Callable[..., App],
    client_for: Callable[[App], Client],
    dead_redis_url: str,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    store: str,
) -> None:
    """The recommended stack: the view's request.user loads the session and fails;
    the access log outside SessionMiddleware must not load it again (issue 8 item 2)."""
    caplog.set_level(logging.INFO, logger="lback_mw.access")
    backend = dead_redis_url if store == "dead redis" else "memory://"
    app = app_factory(
        MIDDLEWARES=[
            "lback_mw.middlewares.AccessLogMiddleware",
            {"class": SESSION, "params": {"backend": backend}},
            {
                "class": "lback_mw.middlewares.AuthenticationMiddleware",
                "params": {"user_loader": lambda user_id: None},
            },
        ]
    )
    if store == "raising store":
        session_backend = app.configured_middleware[1].instance.backend

        def unavailable(key: str) -> bytes | None:
            raise BackendUnavailable("the store went away")

        monkeypatch.setattr(session_backend, "get", unavailable)

    @app.route("/me")
    def me(request: Request) -> str:
        return "signed in" if request.user else "anonymous"

    client = client_for(app)
    client.set_cookie("session", secrets.token_urlsafe(32))
    response = client.get("/me")
    assert response.status_code == 503
    assert "session store cannot be reached" in response.text
    [line] = [r.getMessage() for r in caplog.records if r.name == "lback_mw.access"]
    assert '"GET /me HTTP/1.1" 503 ' in line


def test_an_unreachable_store_with_an_untouched_session_is_fine(
    app_factory, client_for, dead_redis_url
):
    app = build(app_factory, backend=dead_redis_url)
    response = get_with_cookie(app, "/untouched", "A" * 43)
    assert response.status_code == 200


def test_a_verified_cookie_still_expires_on_its_next_use(app_factory, monkeypatch):
    """Verified cookies are remembered (a browser resends the same one), but the
    age is checked again on every use."""
    app = build(app_factory, cookie_max_age=60)
    cookie = signed({"user": "ada"}, age=30)
    assert get_with_cookie(app, "/get", cookie).json == {"user": "ada"}
    assert get_with_cookie(app, "/get", cookie).json == {"user": "ada"}  # remembered
    later = time.time() + 40  # now 70 s old: past cookie_max_age
    monkeypatch.setattr(time, "time", lambda: later)  # for itsdangerous too
    assert get_with_cookie(app, "/get", cookie).json == {}


def test_remembered_cookies_are_bounded_and_each_request_gets_its_own_dict(
    app_factory, monkeypatch
):
    monkeypatch.setattr("lback_mw.middlewares._session_stores.VERIFIED_CACHE_SIZE", 3)
    app = build(app_factory)
    cookies = [signed({"n": n, "cart": []}) for n in range(5)]
    for n, cookie in enumerate(cookies):
        assert get_with_cookie(app, "/get", cookie).json == {"n": n, "cart": []}
    store = app.configured_middleware[0].instance._store
    assert list(store._verified) == cookies[2:]
    # A view that mutates the loaded dict in place does not change what the
    # next request with the same cookie loads.
    assert get_with_cookie(app, "/append?item=x", cookies[4]).json["cart"] == ["x"]
    assert get_with_cookie(app, "/get", cookies[4]).json == {"n": 4, "cart": []}


@pytest.mark.parametrize(
    "data",
    [
        pytest.param({"user": "ada", "visits": 3, "seen": None}, id="plain values"),
        pytest.param({"user": "ada", "roles": ["admin"]}, id="a list"),
        pytest.param({"user": "ada", "prefs": {"theme": "dark"}}, id="a dict"),
        pytest.param({"user": "ada", "pair": (1, [2])}, id="a tuple holding a list"),
    ],
)
def test_a_remembered_cookie_loads_what_it_holds_however_the_last_request_changed_it(
    app_factory, data
):
    """The remembered copy is never the dict a view changed: the same cookie sent
    again (a second tab, a retried request) loads what the cookie holds."""
    app = build(app_factory)
    cookie = signed(data)
    first = get_with_cookie(app, "/get", cookie).json
    assert get_with_cookie(app, "/set?user=eve", cookie).json["user"] == "eve"
    assert get_with_cookie(app, "/get", cookie).json == first
    store = app.configured_middleware[0].instance._store
    copy = store._verified[cookie][1]
    assert copy() == copy()
    assert copy() is not copy()


@pytest.mark.parametrize(
    "data",
    [
        {"at": datetime.datetime(2026, 12, 4, tzinfo=datetime.UTC), "raw": b"\x00\xff"},
        {"id": uuid.UUID(int=7), "html": Markup("<b>ok</b>"), "pair": (1, 2)},
        {"nested": {"pair": (1, [2])}, "flag": True},
    ],
)
def test_each_copy_of_remembered_data_is_its_own(data):
    copy = _tagged_json.copier(data)
    first, second = copy(), copy()
    assert first == second == data
    assert first is not second
    assert all(type(first[key]) is type(value) for key, value in data.items())
    first.clear()
    assert copy() == data


def test_a_session_key_that_is_not_a_string_is_refused(app_factory):
    # The cookie and the stores keep JSON objects, whose keys are strings: a 1 would
    # come back as "1" on the next request, another key than the view wrote.
    app = build(app_factory)

    @app.route("/int-key")
    def int_key(request: Request) -> dict[str, Any]:
        with pytest.raises(TypeError, match=r"^Session keys are strings; got int 1\.$"):
            request.session[1] = "one"
        return dict(request.session)

    response = Client(app).get("/int-key")
    assert response.status_code == 200
    assert response.json == {}
    assert "Set-Cookie" not in response.headers

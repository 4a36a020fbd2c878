"""AuthenticationMiddleware and lback_mw.auth: users from sessions and bearer tokens,
login and logout against session fixation, guarded views and paths, safe redirects."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlencode

import pytest
from werkzeug.test import EnvironBuilder

from lback_mw import App, ImproperlyConfigured, Request
from lback_mw.auth import (
    AnonymousUser,
    LoginRequired,
    UserMixin,
    login,
    login_required,
    logout,
    safe_next_url,
)
from lback_mw.checks import check_ordering
from lback_mw.middlewares.auth import AuthenticationMiddleware
from lback_mw.testing import Client

SESSION = "lback_mw.middlewares.SessionMiddleware"
AUTH = "lback_mw.middlewares.AuthenticationMiddleware"
CSRF = "lback_mw.middlewares.CSRFMiddleware"
JSON = {"Accept": "application/json"}
BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}

AppFactory = Callable[..., App]
ClientFor = Callable[[App], Client]


@dataclass
class User(UserMixin):
    id: int
    name: str


@dataclass
class Directory:
    """The project's user store, counting how often the middleware asks it."""

    users: dict[str, Any] = field(
        default_factory=lambda: {"1": User(1, "ada"), "2": User(2, "bob")}
    )
    # A user class of its own, with no mixin: the middleware imposes none.
    tokens: dict[str, Any] = field(
        default_factory=lambda: {"t0k3n.ada-1~+/==": SimpleNamespace(id=7, name="api-bot")}
    )
    lookups: list[str] = field(default_factory=list)

    def load_user(self, user_id: str) -> Any:
        self.lookups.append(user_id)
        return self.users.get(user_id)

    def load_token(self, token: str) -> Any:
        return self.tokens.get(token)


def load_ada(user_id: str) -> User | None:
    """A user store of one."""
    return User(1, "ada") if user_id == "1" else None


def make_user_loader() -> Callable[[str], User | None]:
    """A DEPENDENCIES factory: what it returns is the user_loader."""
    return load_ada


def add_views(app: App, directory: Directory) -> None:
    @app.route("/me")
    def me(request: Request) -> dict[str, Any]:
        user = request.user
        return {
            "id": user.id,
            "name": getattr(user, "name", None),
            "truthy": bool(user),
            "anonymous": isinstance(user, AnonymousUser),
        }

    @app.route("/me/identity")
    def identity(request: Request) -> dict[str, bool]:
        # The loader's own object, not a proxy of it: `is` and type() see the user.
        return {
            "same": request.user is directory.users.get("1"),
            "type": type(request.user) is User,
        }

    @app.route("/public")
    def public(request: Request) -> str:
        return "never looks at the user"

    @app.route("/visit")
    def visit(request: Request) -> str:
        request.session["cart"] = ["apple"]
        return "browsing"

    @app.route("/cart")
    def cart(request: Request) -> Any:
        return {"cart": request.session.get("cart")}

    @app.route("/login", methods=["GET", "POST"])
    def login_view(request: Request) -> Any:
        if request.method == "GET":
            return "the login page"
        login(request, directory.users[request.form["id"]])
        return {"next": safe_next_url(request, "/home"), "name": request.user.name}

    @app.route("/logout", methods=["POST"])
    def logout_view(request: Request) -> Any:
        logout(request)
        return {"anonymous": isinstance(request.user, AnonymousUser)}

    @app.route("/notes", methods=["GET", "POST"])
    @login_required
    def notes(request: Request) -> str:
        return f"notes of {request.user.name}"

    for rule in ("/admin", "/admin/users", "/administrator", "/reports/<name>", "/api/items"):
        app.route(rule, endpoint=rule)(lambda request, **values: "inside")


@pytest.fixture
def directory() -> Directory:
    return Directory()


@pytest.fixture
def make(
    app_factory: AppFactory, client_for: ClientFor, directory: Directory
) -> Callable[..., Client]:
    """``make(session_params=..., **auth_params)``: a client over SessionMiddleware +
    AuthenticationMiddleware, the loaders coming from ``directory``."""

    def build(*, session_params: dict[str, Any] | None = None, **params: Any) -> Client:
        app = app_factory(
            MIDDLEWARES=[
                {"class": SESSION, "params": session_params or {}},
                {"class": AUTH, "params": params},
            ],
            dependencies={"user_loader": directory.load_user, "token_loader": directory.load_token},
        )
        add_views(app, directory)
        return client_for(app)

    return build


def session_cookie(client: Client) -> str | None:
    cookie = client.get_cookie("session")
    return None if cookie is None else cookie.value


def body(response: Any) -> Any:
    data = response.json
    assert data is not None, response.text
    return data


def me(client: Client, **kwargs: Any) -> Any:
    """What the /me view says about ``request.user``."""
    return body(client.get("/me", **kwargs))


def log_in(client: Client, user_id: str = "1", **kwargs: Any) -> Any:
    response = client.post("/login", data={"id": user_id}, **kwargs)
    assert response.status_code == 200, response.text
    return response


# --- request.user -----------------------------------------------------------------


def test_anonymous_user(make: Callable[..., Client], directory: Directory) -> None:
    client = make()
    assert client.get("/me").json == {"id": None, "name": None, "truthy": False, "anonymous": True}
    assert directory.lookups == []  # no id in the session: the store is never asked
    anonymous = AnonymousUser()
    assert (anonymous.is_authenticated, anonymous.is_anonymous, anonymous.id) == (False, True, None)


def test_login_then_the_next_request_has_the_user(
    make: Callable[..., Client], directory: Directory
) -> None:
    client = make()
    assert log_in(client).json == {"next": "/home", "name": "ada"}
    assert client.get("/me").json == {"id": 1, "name": "ada", "truthy": True, "anonymous": False}
    assert directory.lookups == ["1"]  # the session holds the id as a string
    assert client.get("/notes").text == "notes of ada"


def test_the_session_user_is_the_loaders_own_object(
    make: Callable[..., Client], directory: Directory
) -> None:
    client = make()
    log_in(client)
    assert client.get("/me/identity").json == {"same": True, "type": True}
    assert directory.lookups == ["1"]


def test_the_user_loads_only_when_a_view_looks(
    make: Callable[..., Client], directory: Directory
) -> None:
    client = make()
    log_in(client)
    response = client.get("/public")
    assert response.text == "never looks at the user"
    assert directory.lookups == []  # neither the user store...
    assert "Vary" not in response.headers  # ...nor the session was read
    client.get("/me")
    assert directory.lookups == ["1"]


def test_login_gives_a_signed_session_a_new_cookie(make: Callable[..., Client]) -> None:
    client = make()
    client.get("/visit")
    before = session_cookie(client)
    assert before is not None
    log_in(client)
    after = session_cookie(client)
    assert after is not None
    assert after != before
    assert client.get("/cart").json == {"cart": ["apple"]}  # the data came along
    # A cookie planted or captured before login is not logged in.
    client.set_cookie("session", before)
    assert me(client)["anonymous"] is True


def test_login_moves_a_server_side_session_to_a_new_id(make: Callable[..., Client]) -> None:
    client = make(session_params={"backend": "memory://"})
    client.get("/visit")
    before = session_cookie(client)
    log_in(client)
    after = session_cookie(client)
    assert before is not None
    assert after is not None
    assert after != before
    assert client.get("/cart").json == {"cart": ["apple"]}
    client.set_cookie("session", before)  # the fixated id now loads nothing at all
    assert client.get("/cart").json == {"cart": None}
    assert me(client)["anonymous"] is True


def test_login_as_another_user_drops_the_previous_users_data(
    make: Callable[..., Client],
) -> None:
    client = make()
    log_in(client, "1")
    client.get("/visit")
    log_in(client, "2")
    assert me(client)["name"] == "bob"
    assert client.get("/cart").json == {"cart": None}


def test_logout_clears_the_session_and_deletes_the_cookie(make: Callable[..., Client]) -> None:
    client = make()
    log_in(client)
    client.get("/visit")
    response = client.post("/logout")
    assert response.json == {"anonymous": True}
    [set_cookie] = response.headers.getlist("Set-Cookie")
    assert set_cookie.startswith("session=;")
    assert "Max-Age=0" in set_cookie
    assert session_cookie(client) is None
    assert me(client)["anonymous"] is True
    assert client.get("/cart").json == {"cart": None}


def test_a_deleted_user_is_anonymous_and_the_stale_id_removed(
    make: Callable[..., Client], directory: Directory
) -> None:
    client = make()
    log_in(client, "2")
    del directory.users["2"]
    response = client.get("/me")
    assert body(response)["anonymous"] is True
    assert "Max-Age=0" in response.headers["Set-Cookie"]  # the session held only the id
    assert session_cookie(client) is None
    client.get("/me")
    assert directory.lookups == ["2"]  # asked once, never again


def test_a_deleted_user_keeps_the_rest_of_the_session(
    make: Callable[..., Client], directory: Directory
) -> None:
    client = make()
    log_in(client, "2")
    client.get("/visit")
    del directory.users["2"]
    assert me(client)["anonymous"] is True
    assert client.get("/cart").json == {"cart": ["apple"]}
    assert directory.lookups == ["2"]


# --- bearer tokens ------------------------------------------------------------------


def test_a_valid_bearer_token_sets_the_user(make: Callable[..., Client]) -> None:
    client = make()
    response = client.get("/me", headers={"Authorization": "Bearer t0k3n.ada-1~+/=="})
    assert response.json == {"id": 7, "name": "api-bot", "truthy": True, "anonymous": False}
    assert "Vary" not in response.headers  # the session was never read


def test_an_unknown_bearer_token_is_refused(make: Callable[..., Client]) -> None:
    client = make()
    log_in(client)  # a session does not rescue a bad token
    response = client.get("/me", headers={"Authorization": "Bearer nope"})
    assert response.status_code == 401
    assert response.mimetype == "application/problem+json"
    assert body(response)["status"] == 401
    assert response.headers["WWW-Authenticate"].startswith('Bearer error="invalid_token"')


@pytest.mark.parametrize(
    "header", ["Bearer", "Bearer ", "Bearer a b", "Bearer a=b", "bearer tok\u00e9n", "Bearer =abc"]
)
def test_a_malformed_bearer_header_is_refused(make: Callable[..., Client], header: str) -> None:
    response = make().get("/me", headers={"Authorization": header})
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == (
        'Bearer error="invalid_token", error_description="The access token is malformed."'
    )


def test_other_schemes_and_no_header_fall_back_to_the_session(
    make: Callable[..., Client],
) -> None:
    client = make()
    log_in(client)
    assert me(client)["name"] == "ada"
    basic = {"Authorization": "Basic dXNlcjpwYXNz"}
    assert me(client, headers=basic)["name"] == "ada"


def test_bearer_off_ignores_tokens(make: Callable[..., Client]) -> None:
    client = make(bearer=False)
    response = client.get("/me", headers={"Authorization": "Bearer nope"})
    assert response.status_code == 200
    assert body(response)["anonymous"] is True


def test_bearer_only_needs_no_session(
    app_factory: AppFactory, client_for: ClientFor, directory: Directory
) -> None:
    app = app_factory(MIDDLEWARES=[AUTH], dependencies={"token_loader": directory.load_token})
    add_views(app, directory)
    client = client_for(app)
    assert me(client)["anonymous"] is True
    response = client.get("/me", headers={"Authorization": "Bearer t0k3n.ada-1~+/=="})
    assert body(response)["name"] == "api-bot"
    # login() needs a session to store the user in, and says where to get one.
    app.propagate_exceptions = True
    with pytest.raises(ImproperlyConfigured, match=re.escape("add 'lback_mw.middlewares.Sess")):
        client.post("/login", data={"id": "1"})


# --- login_required and protected_paths ---------------------------------------------


def test_login_required_redirects_a_browser_with_next(make: Callable[..., Client]) -> None:
    client = make()
    response = client.get("/notes?x=1&to=%2Fa%26b", headers=BROWSER)
    assert response.status_code == 302
    assert response.headers["Location"] == "/login?next=%2Fnotes%3Fx%3D1%26to%3D%252Fa%2526b"
    # Following it, the login view sends the user back exactly where they were.
    query = response.headers["Location"].partition("?")[2]
    next_url = body(log_in(client, query_string=query))["next"]
    assert next_url == "/notes?x=1&to=%2Fa%26b"
    assert client.get(next_url).text == "notes of ada"


def test_login_required_answers_api_clients_with_401(make: Callable[..., Client]) -> None:
    client = make()
    for headers in (JSON, {"X-Requested-With": "XMLHttpRequest"}):
        response = client.get("/notes", headers=headers)
        assert response.status_code == 401
        assert response.mimetype == "application/problem+json"
        assert body(response)["title"] == "Unauthorized"
        assert response.headers["WWW-Authenticate"] == 'Bearer, Cookie form-action="/login"'


def test_login_required_sends_a_form_post_to_the_login_page_without_next(
    make: Callable[..., Client],
) -> None:
    response = make().post("/notes", headers=BROWSER)
    assert response.status_code == 303
    assert response.headers["Location"] == "/login"


def test_login_url_comes_from_settings_or_params(
    app_factory: AppFactory, client_for: ClientFor, directory: Directory
) -> None:
    def location(auth: Any) -> str:
        app = app_factory(
            MIDDLEWARES=[SESSION, auth],
            LOGIN_URL="/accounts/login?lang=en",
            dependencies={"user_loader": directory.load_user},
        )
        add_views(app, directory)
        return str(client_for(app).get("/notes").headers["Location"])

    assert location(AUTH) == "/accounts/login?lang=en&next=%2Fnotes"
    assert location({"class": AUTH, "params": {"login_url": "/signin"}}) == "/signin?next=%2Fnotes"


@pytest.mark.parametrize(
    ("path", "guarded"),
    [
        ("/admin", True),
        ("/admin/users", True),
        ("/%61dmin/users", True),  # percent-encoding does not slip past
        ("/administrator", False),  # a prefix stops at a path segment
        ("/reports/q1.csv", True),
        ("/reports/q1.pdf", False),
        ("/public", False),
    ],
)
def test_protected_paths(make: Callable[..., Client], path: str, guarded: bool) -> None:
    client = make(protected_paths=["/admin/*", "/reports/<name>.csv"])
    response = client.get(path, headers=BROWSER)
    assert response.status_code == (302 if guarded else 200)
    log_in(client)
    assert client.get(path).status_code == 200


def test_protected_paths_under_api_prefixes_answer_401(make: Callable[..., Client]) -> None:
    client = make(protected_paths=["/api/*", "/admin/*"], api_prefixes=["/api/*"])
    assert client.get("/api/items", headers=BROWSER).status_code == 401
    assert client.get("/admin", headers=BROWSER).status_code == 302
    assert make(protected_paths=["/api/*"], api_prefixes=[]).get("/api/items").status_code == 302


def test_protected_paths_match_the_whole_path(make: Callable[..., Client]) -> None:
    # The old regex ended in "$", which also matches before a final newline, so
    # "/admin\n" was taken for "/admin". A pattern compares the path itself.
    client = make(protected_paths=["/admin/*"], api_prefixes=[])
    assert client.get("/admin%0A", headers=BROWSER).status_code == 404
    assert client.get("/admin", headers=BROWSER).status_code == 302


def test_a_bare_protected_path_still_guards_what_is_under_it(
    make: Callable[..., Client],
) -> None:
    # 0.0 read "/admin" as a prefix; matching less would unguard /admin/users.
    with pytest.warns(DeprecationWarning, match="'/admin' is read as '/admin/\\*'"):
        client = make(protected_paths=["/admin"])
    assert client.get("/admin/users", headers=BROWSER).status_code == 302
    assert client.get("/admin", headers=BROWSER).status_code == 302
    assert client.get("/administrator", headers=BROWSER).status_code == 200


def test_protecting_everything_leaves_the_login_page_reachable(
    make: Callable[..., Client],
) -> None:
    client = make(protected_paths=["/*"])
    assert client.get("/me").status_code == 302
    assert client.get("/login").text == "the login page"
    log_in(client)
    assert me(client)["name"] == "ada"


def test_next_never_points_to_another_site(make: Callable[..., Client]) -> None:
    client = make(protected_paths=["/*"])
    response = client.get("/", environ_overrides={"PATH_INFO": "//evil.example/x"})
    assert response.headers["Location"] == "/login?next=%2Fevil.example%2Fx"


@pytest.mark.parametrize(("sent", "path_info"), [("/caf%E9", "/caf\xe9"), ("/a%2Fb", "/a/b")])
def test_next_keeps_the_bytes_the_client_sent(
    make: Callable[..., Client], sent: str, path_info: str
) -> None:
    # The old re-quoting of request.path turned /caf%E9 into /caf%EF%BF%BD, another
    # page, and /a%2Fb into /a/b. PATH_INFO is latin-1 as a server gives it (PEP 3333).
    client = make(protected_paths=["/*"])
    response = client.get(sent, headers=BROWSER, environ_overrides={"PATH_INFO": path_info})
    assert response.headers["Location"] == f"/login?{urlencode({'next': sent})}"


# --- CSRF ---------------------------------------------------------------------------


def test_login_rotates_the_csrf_token(
    app_factory: AppFactory, client_for: ClientFor, directory: Directory
) -> None:
    app = app_factory(
        MIDDLEWARES=[SESSION, CSRF, AUTH], dependencies={"user_loader": directory.load_user}
    )
    add_views(app, directory)

    @app.route("/token")
    def token(request: Request) -> str:
        return str(request.csrf_token())

    client = client_for(app)
    before = client.get("/token").text
    log_in(client, headers={"X-CSRF-Token": before})
    # A token an attacker fetched before login is refused now.
    assert client.post("/notes", headers={"X-CSRF-Token": before}).status_code == 403
    after = client.get("/token").text
    assert client.post("/notes", headers={"X-CSRF-Token": after}).text == "notes of ada"


def test_a_token_handed_out_after_logout_is_accepted(
    app_factory: AppFactory, client_for: ClientFor, directory: Directory
) -> None:
    """logout() clears the session, secret included; the page it renders must carry
    a token of the new secret, not of the dropped one."""
    app = app_factory(
        MIDDLEWARES=[SESSION, CSRF, AUTH], dependencies={"user_loader": directory.load_user}
    )
    add_views(app, directory)

    @app.route("/bye", methods=["POST"])
    def bye(request: Request) -> str:
        request.csrf_token()  # the page before logging out showed a token
        logout(request)
        return str(request.csrf_token())  # the login form shown after logout

    @app.route("/token")
    def token(request: Request) -> str:
        return str(request.csrf_token())

    client = client_for(app)
    log_in(client, headers={"X-CSRF-Token": client.get("/token").text})
    fresh = client.post("/bye", headers={"X-CSRF-Token": client.get("/token").text}).text
    response = client.post("/login", data={"id": "1"}, headers={"X-CSRF-Token": fresh})
    assert response.status_code == 200, response.text


# --- safe_next_url ------------------------------------------------------------------


def request_for(next_url: str | None, **kwargs: Any) -> Request:
    query = {} if next_url is None else {"next": next_url}
    builder = EnvironBuilder(query_string=query, base_url="https://notes.example", **kwargs)
    return Request(builder.get_environ())


@pytest.mark.parametrize(
    "url",
    [
        "//evil.com",
        "///evil.com",
        "https://evil.com",
        "/\\evil.com",
        "\\\\evil.com",
        "/\t/evil.com",  # browsers drop the tab: //evil.com
        " //evil.com",
        "https:evil.com",
        "javascript:alert(1)",
        "https://notes.example@evil.com/",
        "http://notes.example/",  # a downgrade from https
        "notes",  # relative to who knows what
        "",
    ],
)
def test_safe_next_url_rejects_other_sites(url: str) -> None:
    assert safe_next_url(request_for(url), "/home") == "/home"


@pytest.mark.parametrize("url", ["/notes?x=1", "/", "/a/b#top", "https://notes.example/notes"])
def test_safe_next_url_accepts_this_site(url: str) -> None:
    assert safe_next_url(request_for(url), "/home") == url


def test_safe_next_url_reads_the_form_and_defaults() -> None:
    assert safe_next_url(request_for(None)) == "/"
    posted = request_for(None, method="POST", data={"next": "/notes"})
    assert safe_next_url(posted, "/home") == "/notes"


# --- misuse and configuration -------------------------------------------------------


def test_login_without_session_middleware_is_a_clear_error(
    app_factory: AppFactory, client_for: ClientFor, caplog: pytest.LogCaptureFixture
) -> None:
    app = app_factory(MIDDLEWARES=[AUTH], dependencies={"user_loader": {}.get})
    add_views(app, Directory())
    with caplog.at_level(logging.ERROR):
        assert client_for(app).get("/me").status_code == 500
    assert (
        "no SessionMiddleware ran for this request: add 'lback_mw.middlewares.SessionMiddleware' "
        "above AuthenticationMiddleware in MIDDLEWARES"
    ) in caplog.text

    request = request_for(None)
    with pytest.raises(ImproperlyConfigured, match=re.escape("login() needs request.session")):
        login(request, User(1, "ada"))
    with pytest.raises(ImproperlyConfigured, match=re.escape("logout() needs request.session")):
        logout(request)


def test_helpers_without_the_middleware_are_a_clear_error(
    app_factory: AppFactory, client_for: ClientFor
) -> None:
    app = app_factory(MIDDLEWARES=[SESSION])
    add_views(app, Directory())
    app.propagate_exceptions = True
    client = client_for(app)
    with pytest.raises(ImproperlyConfigured, match=re.escape("login() needs AuthenticationMid")):
        client.post("/login", data={"id": "1"})
    with pytest.raises(
        ImproperlyConfigured, match=re.escape("@login_required on 'add_views.<locals>.notes'")
    ):
        client.get("/notes")


def test_login_needs_a_user_loader_to_come_back_to(
    app_factory: AppFactory, client_for: ClientFor, directory: Directory
) -> None:
    app = app_factory(
        MIDDLEWARES=[SESSION, AUTH], dependencies={"token_loader": directory.load_token}
    )
    add_views(app, directory)
    app.propagate_exceptions = True
    with pytest.raises(ImproperlyConfigured, match="has no user_loader to load the user back"):
        client_for(app).post("/login", data={"id": "1"})


def test_login_needs_a_user_with_an_id(make: Callable[..., Client], directory: Directory) -> None:
    directory.users["3"] = SimpleNamespace(name="no id")
    client = make()
    assert isinstance(client.app, App)
    client.app.propagate_exceptions = True
    with pytest.raises(TypeError, match=re.escape("login() needs a user with an id")):
        client.post("/login", data={"id": "3"})


def test_login_required_raised_by_hand(make: Callable[..., Client]) -> None:
    client = make()
    app = client.app
    assert isinstance(app, App)

    @app.route("/maybe")
    def maybe(request: Request) -> str:
        raise LoginRequired()

    assert client.get("/maybe", headers=JSON).status_code == 401
    assert client.get("/maybe", headers=BROWSER).headers["Location"] == "/login?next=%2Fmaybe"


def test_a_missing_user_loader_says_how_to_provide_one(app_factory: AppFactory) -> None:
    with pytest.raises(ImproperlyConfigured) as info:
        app_factory(MIDDLEWARES=[SESSION, AUTH])
    message = str(info.value)
    assert message.startswith("MIDDLEWARES[1] ('lback_mw.middlewares.AuthenticationMiddleware')")
    assert "needs a user_loader" in message
    assert "DEPENDENCIES = {'user_loader': " in message
    assert "app.provide('user_loader', load_user)" in message


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"bearer": True}, "bearer is true but there is no token_loader"),
        ({"user_loader": "lback_mw.auth.nope"}, "has no attribute 'nope'"),
        (
            {"user_loader": "lback_mw.auth.ENVIRON_KEY"},
            "user_loader 'lback_mw.auth.ENVIRON_KEY' is a str, not a function "
            "user_loader(user_id: str) returning the user or None.",
        ),
        ({"user_loader": len, "session_key": ""}, "session_key must not be empty"),
        ({"user_loader": len, "login_url": "//evil.com/login"}, "login_url"),
        ({"user_loader": len, "login_url": "login"}, "must be a path starting with one '/'"),
        ({"user_loader": len, "protected_paths": ["admin"]}, "'admin' is not a path pattern"),
        (
            {"user_loader": len, "protected_paths": ["/reports/*.pdf"]},
            "protected_paths[0]: '/reports/*.pdf' is an fnmatch glob; path patterns have "
            "none. Write a prefix, '/reports/*', or a werkzeug rule such as "
            "'/reports/<name>.pdf'.",
        ),
        ({"user_loader": len, "api_prefixes": ["/api/"]}, "Write '/api/*'"),
        ({"user_loader": len, "api_prefixes": "/api/"}, "api_prefixes"),
    ],
)
def test_configuration_errors(app_factory: AppFactory, params: Any, expected: str) -> None:
    with pytest.raises(ImproperlyConfigured, match="AuthenticationMiddleware") as info:
        app_factory(MIDDLEWARES=[SESSION, {"class": AUTH, "params": params}])
    assert expected in str(info.value)


def test_a_dependency_that_is_not_a_function(app_factory: AppFactory) -> None:
    with pytest.raises(ImproperlyConfigured, match="user_loader is a dict") as info:
        app_factory(MIDDLEWARES=[SESSION, AUTH], dependencies={"user_loader": {"1": "ada"}})
    assert "return the function" in str(info.value)


def test_the_ways_to_provide_a_user_loader(app_factory: AppFactory, client_for: ClientFor) -> None:
    by_dependencies = app_factory(
        MIDDLEWARES=[SESSION, AUTH], DEPENDENCIES={"user_loader": f"{__name__}.make_user_loader"}
    )
    by_params = app_factory(
        MIDDLEWARES=[SESSION, {"class": AUTH, "params": {"user_loader": f"{__name__}.load_ada"}}]
    )
    by_provide = app_factory(MIDDLEWARES=[SESSION])
    by_provide.provide("user_loader", load_ada)
    by_provide.use(AuthenticationMiddleware)
    for app in (by_dependencies, by_params, by_provide):
        add_views(app, Directory())
        client = client_for(app)
        log_in(client)
        assert me(client)["name"] == "ada"
        log_in(client, "2")  # bob is not in these apps' user store
        assert me(client)["anonymous"] is True


def test_lback_mw_check_sees_the_auth_role(app_factory: AppFactory) -> None:
    app = app_factory(MIDDLEWARES=[AUTH, SESSION], dependencies={"user_loader": load_ada})
    [warning] = check_ordering(app)
    assert "AuthenticationMiddleware" in warning.message

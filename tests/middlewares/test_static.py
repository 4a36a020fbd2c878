"""StaticFilesMiddleware: serving, conditional requests, and every way out of the root refused."""

from __future__ import annotations

import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from werkzeug.serving import make_server
from werkzeug.test import EnvironBuilder
from werkzeug.wsgi import FileWrapper

from lback_mw import App, BaseMiddleware, ImproperlyConfigured, Request
from lback_mw.testing import Client

STATIC = "lback_mw.middlewares.StaticFilesMiddleware"
CSS = b"body { color: red }\n"
SECRET = b"TOP SECRET"
DATA = bytes(range(256)) * 4  # 1024 bytes, for ranges
PACKAGE = "lback_static_fixture_pkg"

AppFactory = Callable[..., App]
ClientFor = Callable[[App], Client]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project directory: static/ to serve, and secrets next to it that must stay put."""
    files = {
        "static/css/app.css": CSS,
        "static/data.bin": DATA,
        "static/.env": SECRET,
        "static/.git/config": SECRET,
        "static/css/.hidden.css": SECRET,
        "static-secret/file": SECRET,
        "secret.txt": SECRET,
        "extra/css/app.css": b"from extra",
        "extra/only-extra.txt": b"only in extra",
        "static/back\\slash.txt": b"a backslash in the name",
    }
    for name, content in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    return tmp_path


def build(app_factory: AppFactory, project: Path, **params: Any) -> App:
    app = app_factory(
        BASE_DIR=project,
        STATIC_ROOT="static",  # relative: taken from BASE_DIR
        MIDDLEWARES=[{"class": STATIC, "params": params}, Inner],
    )

    @app.route("/static")
    def no_slash(request: Request) -> str:
        return "the view at /static"

    @app.route("/statically")
    def statically(request: Request) -> str:
        return "the view at /statically"

    return app


class Inner(BaseMiddleware):
    """Marks every request that got past the static files middleware."""

    def process_response(self, request: Request, response: Any) -> Any:
        response.headers["X-Inner"] = "reached"
        return response


@pytest.fixture
def client(app_factory: AppFactory, project: Path, client_for: ClientFor) -> Client:
    return client_for(build(app_factory, project))


# -- serving -------------------------------------------------------------------------


def test_serves_a_file_with_type_validators_and_cache_control(client: Client) -> None:
    response = client.get("/static/css/app.css")

    assert response.status_code == 200
    assert response.data == CSS
    assert response.mimetype == "text/css"
    assert response.headers["Content-Length"] == str(len(CSS))
    assert response.headers["ETag"]
    assert response.headers["Last-Modified"]
    assert response.headers["Accept-Ranges"] == "bytes"
    assert response.headers["Cache-Control"] == "no-cache"
    assert "X-Inner" not in response.headers  # answered before the inner middleware


@pytest.mark.parametrize("path", ["/static", "/statically"])
def test_paths_outside_the_prefix_reach_the_app(client: Client, path: str) -> None:
    response = client.get(path)

    assert response.status_code == 200
    assert response.text == f"the view at {path}"
    assert response.headers["X-Inner"] == "reached"


def test_head_sends_the_headers_without_the_body(app_factory: AppFactory, project: Path) -> None:
    # werkzeug's linter counts a HEAD response's Content-Length against the (empty)
    # body it sends, so HEAD goes through a plain client.
    response = Client(build(app_factory, project)).head("/static/css/app.css")

    assert response.status_code == 200
    assert response.data == b""
    assert response.headers["Content-Length"] == str(len(CSS))
    assert response.headers["ETag"]


@pytest.mark.parametrize(
    ("headers", "status", "body"),
    [
        pytest.param({"Range": "bytes=0-9"}, 206, DATA[:10], id="first bytes"),
        pytest.param({"Range": "bytes=1000-"}, 206, DATA[1000:], id="open-ended"),
        pytest.param({"Range": "bytes=-4"}, 206, DATA[-4:], id="suffix"),
    ],
)
def test_range_requests(client: Client, headers: dict[str, str], status: int, body: bytes) -> None:
    response = client.get("/static/data.bin", headers=headers)

    assert response.status_code == status
    assert response.data == body
    start = len(DATA) - len(body) if headers["Range"] != "bytes=0-9" else 0
    assert response.headers["Content-Range"] == f"bytes {start}-{start + len(body) - 1}/1024"


def test_unsatisfiable_range_is_416(client: Client) -> None:
    response = client.get("/static/data.bin", headers={"Range": "bytes=5000-6000"})

    assert response.status_code == 416
    assert response.headers["Content-Range"] == "bytes */1024"


def test_if_none_match_is_304(client: Client) -> None:
    etag = client.get("/static/css/app.css").headers["ETag"]

    response = client.get("/static/css/app.css", headers={"If-None-Match": etag})

    assert response.status_code == 304
    assert response.data == b""
    assert response.headers["ETag"] == etag
    assert response.headers["Cache-Control"] == "no-cache"
    assert client.get("/static/css/app.css", headers={"If-None-Match": '"other"'}).data == CSS


def test_if_modified_since_is_304(client: Client) -> None:
    last_modified = client.get("/static/css/app.css").headers["Last-Modified"]

    response = client.get("/static/css/app.css", headers={"If-Modified-Since": last_modified})

    assert response.status_code == 304
    old = "Mon, 01 Jan 2001 00:00:00 GMT"
    assert client.get("/static/css/app.css", headers={"If-Modified-Since": old}).data == CSS


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        pytest.param({}, "no-cache", id="default"),
        pytest.param({"max_age": "3600"}, "public, max-age=3600", id="max_age from YAML"),
        pytest.param(
            {"max_age": 60, "cache_control": "public, max-age=31536000, immutable"},
            "public, max-age=31536000, immutable",
            id="cache_control wins",
        ),
    ],
)
def test_cache_control(
    app_factory: AppFactory,
    project: Path,
    client_for: ClientFor,
    params: dict[str, Any],
    expected: str,
) -> None:
    response = client_for(build(app_factory, project, **params)).get("/static/css/app.css")

    assert response.headers["Cache-Control"] == expected
    assert "Expires" not in response.headers


def test_body_is_streamed_through_the_servers_file_wrapper(
    app_factory: AppFactory, project: Path
) -> None:
    wrapped: list[Any] = []

    class ServerFileWrapper(FileWrapper):
        def __init__(self, file: Any, buffer_size: int = 8192) -> None:
            wrapped.append(file)
            super().__init__(file, buffer_size)

    # werkzeug's linter puts its own wsgi.file_wrapper in the environ: a plain client here.
    response = Client(build(app_factory, project)).get(
        "/static/data.bin", environ_overrides={"wsgi.file_wrapper": ServerFileWrapper}
    )

    assert response.data == DATA
    [file] = wrapped
    assert file.name.endswith("data.bin")
    assert file.closed


def test_response_passes_the_open_file_through_unread(
    app_factory: AppFactory, project: Path
) -> None:
    middleware = build(app_factory, project).configured_middleware[0].instance
    request = Request(EnvironBuilder(path="/static/data.bin").get_environ())

    response = middleware.process_request(request)

    assert response.direct_passthrough
    assert isinstance(response.response, FileWrapper)
    assert response.response.file.tell() == 0  # nothing read yet
    response.close()
    assert response.response.file.closed


# -- what may not be served ----------------------------------------------------------

TRAVERSALS = [
    pytest.param("/static/../secret.txt", id="dot-dot"),
    pytest.param("/static/%2e%2e/secret.txt", id="encoded dot-dot"),
    pytest.param("/static/..%2fsecret.txt", id="encoded slash"),
    pytest.param("/static/%2e%2e%2fsecret.txt", id="all encoded"),
    pytest.param("/static/css/../../secret.txt", id="down then up"),
    pytest.param("/static/../static-secret/file", id="sibling with the same prefix"),
    pytest.param("/static/%2e%2e/static-secret/file", id="encoded sibling"),
    pytest.param("/static/..\\secret.txt", id="backslash"),
    pytest.param("/static/..%5csecret.txt", id="encoded backslash"),
    pytest.param("/static/css%5capp.css", id="backslash inside the root"),
    pytest.param(f"/static/{'%2f' * 2}etc/passwd", id="encoded absolute"),
    pytest.param("/static//etc/passwd", id="absolute"),
    pytest.param("/static/css/app.css%00.png", id="NUL"),
]


@pytest.mark.parametrize("allow_hidden", [False, True], ids=["default", "allow_hidden"])
@pytest.mark.parametrize("path", TRAVERSALS)
def test_no_way_out_of_the_root(
    app_factory: AppFactory, project: Path, client_for: ClientFor, path: str, allow_hidden: bool
) -> None:
    # With allow_hidden, ".." is not caught as a dotfile first: safe_join must hold.
    client = client_for(build(app_factory, project, allow_hidden=allow_hidden))

    response = client.get(path)

    assert response.status_code == 404
    assert SECRET not in response.data
    assert "X-Inner" not in response.headers


def test_backslashes_are_refused_even_where_they_are_plain_characters(client: Client) -> None:
    # On POSIX a backslash is a file name character like any other (the file exists);
    # refusing it everywhere keeps a URL that is harmless on Linux from becoming a
    # traversal on Windows, where it separates directories.
    assert client.get("/static/back%5cslash.txt").status_code == 404


@pytest.mark.parametrize(
    "path", ["/static/.env", "/static/.git/config", "/static/css/.hidden.css", "/static/.git/"]
)
def test_dotfiles_are_refused_by_default(
    app_factory: AppFactory, project: Path, client_for: ClientFor, path: str
) -> None:
    assert client_for(build(app_factory, project)).get(path).status_code == 404

    allowed = client_for(build(app_factory, project, allow_hidden=True)).get(path)
    assert allowed.status_code == (404 if path.endswith("/") else 200)


@pytest.mark.parametrize("path", ["/static/", "/static/css", "/static/css/"])
def test_directories_are_not_listed(client: Client, path: str) -> None:
    response = client.get(path)

    assert response.status_code == 404
    assert b"app.css" not in response.data


def test_missing_file_is_the_apps_404_without_the_inner_middleware(
    app_factory: AppFactory, project: Path, client_for: ClientFor
) -> None:
    app = build(app_factory, project)

    @app.errorhandler(404)
    def not_found(request: Request, exc: Exception) -> tuple[dict[str, str], int]:
        return {"missing": request.path}, 404

    response = client_for(app).get("/static/nope.css")

    assert response.status_code == 404
    assert response.json == {"missing": "/static/nope.css"}
    assert "X-Inner" not in response.headers


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "OPTIONS"])
def test_other_methods_are_405(client: Client, method: str) -> None:
    response = client.open("/static/css/app.css", method=method)

    assert response.status_code == 405
    assert response.headers["Allow"] == "GET, HEAD"


# -- where files come from -----------------------------------------------------------


@pytest.fixture
def package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An importable package with a static/ and an assets/ directory."""
    root = tmp_path / "site-packages" / PACKAGE
    for name, content in {
        "__init__.py": b"",
        "static/pkg.css": b"from the package",
        "static/css/app.css": b"shadowed",
        "assets/logo.svg": b"<svg/>",
    }.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(content)
    monkeypatch.syspath_prepend(str(root.parent))
    yield root
    sys.modules.pop(PACKAGE, None)


@pytest.mark.usefixtures("package")
def test_package_directories_after_the_configured_ones(
    app_factory: AppFactory, project: Path, client_for: ClientFor
) -> None:
    client = client_for(
        build(
            app_factory,
            project,
            directories=["static", str(project / "extra")],
            packages=[PACKAGE, f"{PACKAGE}:assets"],
        )
    )

    assert client.get("/static/css/app.css").data == CSS  # the first directory wins
    assert client.get("/static/only-extra.txt").data == b"only in extra"
    assert client.get("/static/pkg.css").data == b"from the package"  # "pkg" = "pkg:static"
    response = client.get("/static/logo.svg")
    assert response.data == b"<svg/>"
    assert response.mimetype == "image/svg+xml"
    assert client.get("/static/static/pkg.css").status_code == 404


def test_url_prefix_comes_from_static_url(
    app_factory: AppFactory, project: Path, client_for: ClientFor
) -> None:
    app = app_factory(
        BASE_DIR=project, STATIC_ROOT="static", STATIC_URL="/assets", MIDDLEWARES=[STATIC]
    )

    client = client_for(app)

    assert client.get("/assets/css/app.css").data == CSS
    assert client.get("/static/css/app.css").status_code == 404


# -- configuration errors ------------------------------------------------------------


def error(
    app_factory: AppFactory, project: Path, settings: dict[str, Any] | None = None, **params: Any
) -> str:
    with pytest.raises(ImproperlyConfigured) as info:
        app_factory(
            {"BASE_DIR": project, **(settings or {})},
            MIDDLEWARES=[{"class": STATIC, "params": params}],
        )
    return str(info.value)


def test_missing_directories_are_named(app_factory: AppFactory, project: Path) -> None:
    message = error(
        app_factory, project, {"STATIC_ROOT": "no-such-root"}, packages=["email:static"]
    )

    assert message.startswith(f"MIDDLEWARES[0] ({STATIC!r}): StaticFilesMiddleware: ")
    assert f"{str(project / 'no-such-root')!r} (STATIC_ROOT)" in message
    assert "(packages[0] ('email:static'))" in message
    assert f"relative paths are taken from BASE_DIR ({str(project)!r})" in message


def test_a_file_is_not_a_directory(app_factory: AppFactory, project: Path) -> None:
    message = error(app_factory, project, directories=["static", "secret.txt"])

    assert "do not exist (or are not directories)" in message
    assert "(directories[1])" in message
    assert "(directories[0])" not in message


def test_no_directory_at_all(app_factory: AppFactory, project: Path) -> None:
    assert "no directory to serve files from. Set STATIC_ROOT" in error(app_factory, project)


@pytest.mark.parametrize(
    ("settings", "params", "expected"),
    [
        pytest.param(
            {}, {"url_prefix": "static/"}, "url_prefix is 'static/'; it must be", id="relative"
        ),
        pytest.param({}, {"url_prefix": "/"}, "url_prefix is '/'; it must be", id="root"),
        pytest.param(
            {"STATIC_URL": "https://cdn.example.com/static/"},
            {},
            "STATIC_URL is 'https://cdn.example.com/static/', a full URL",
            id="CDN",
        ),
        pytest.param({}, {"max_age": -1}, "max_age is -1; give a number of seconds", id="max_age"),
        pytest.param(
            {},
            {"cache_control": "no-cache\r\nSet-Cookie: a=b"},
            "cache_control 'no-cache\\r\\nSet-Cookie: a=b' is not a header value",
            id="header injection",
        ),
        pytest.param(
            {},
            {"packages": ["lback_no_such_package_xyz:static"]},
            "packages[0] ('lback_no_such_package_xyz:static'): cannot import package "
            "'lback_no_such_package_xyz' (ModuleNotFoundError",
            id="package",
        ),
    ],
)
def test_bad_configuration(
    app_factory: AppFactory,
    project: Path,
    settings: dict[str, Any],
    params: dict[str, Any],
    expected: str,
) -> None:
    message = error(app_factory, project, {"STATIC_ROOT": "static", **settings}, **params)

    assert expected in message


def test_one_date_header_from_the_development_server(
    app_factory: AppFactory, project: Path
) -> None:
    """``lback-mw run``'s server (werkzeug's, over http.server) writes Date on every
    response; the file response must not bring a second one."""
    server = make_server("127.0.0.1", 0, build(app_factory, project), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.port}/static/css/app.css"
    try:
        with urllib.request.urlopen(url, timeout=10) as first:
            # Read it all: a client that hangs up early makes werkzeug's bare server
            # skip close() (lback-mw run's handler does not: tests/test_devserver.py).
            first.read()
            etag = first.headers["ETag"]
            dates = [first.headers.get_all("Date")]
        revalidate = urllib.request.Request(url, headers={"If-None-Match": etag})
        with pytest.raises(urllib.error.HTTPError) as not_modified:
            urllib.request.urlopen(revalidate, timeout=10)
        with not_modified.value as response:
            assert response.code == 304
            dates.append(response.headers.get_all("Date"))
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
    assert [len(found) for found in dates] == [1, 1]

"""Serve static files under a URL prefix, with werkzeug's ``send_file``.

``send_file`` does the HTTP work: ETag and Last-Modified, 304 for
``If-None-Match`` / ``If-Modified-Since``, ``Range`` (206, and 416 for a range
past the end), the MIME type from the file name, and a body streamed through the
server's ``wsgi.file_wrapper`` (``sendfile(2)`` under gunicorn) rather than read
into memory. What is left here is deciding which file a URL may reach.

A request under the prefix is answered here and never reaches the inner
middleware (sessions, authentication, the database): a missing file is a 404
raised from here, which the app's ``@app.errorhandler(404)`` still renders.
"""

from __future__ import annotations

import os
import posixpath
from importlib import resources
from pathlib import Path
from typing import ClassVar

from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.security import safe_join
from werkzeug.utils import send_file
from werkzeug.wrappers import Response as WerkzeugResponse

from ..exceptions import ImproperlyConfigured
from ..settings import Settings
from ..wrappers import Request, Response
from .base import BaseMiddleware

_METHODS = frozenset({"GET", "HEAD"})
_ALLOW = ("GET", "HEAD")
#: Conditional answers send no body: 304 Not Modified, 412 Precondition Failed.
_NO_BODY = frozenset({304, 412})


class StaticFilesMiddleware(BaseMiddleware):
    """Answer ``GET``/``HEAD`` requests under ``url_prefix`` with files from directories.

    The first directory holding the file wins: ``directories`` in order, then
    ``packages`` in order. Directories themselves are never listed, and dotfiles
    (``.env``, ``.git/``) are refused unless ``allow_hidden``.

    :param url_prefix: the URL path served, ``None`` for ``STATIC_URL``
        (``"/static/"``). It must start with ``/`` and be more than ``/``.
    :param directories: the directories to serve, ``None`` for ``[STATIC_ROOT]``
        (nothing if that is unset); relative paths are taken from ``BASE_DIR``.
    :param packages: ``"package:subdirectory"`` entries, served from the
        installed package's directory; ``"package"`` alone means ``package:static``.
    :param max_age: seconds browsers may reuse a file without asking again; 0
        sends ``Cache-Control: no-cache`` (revalidate each time, answered by a
        cheap 304), more sends ``public, max-age=N``.
    :param cache_control: the whole ``Cache-Control`` value, overriding
        ``max_age`` (``"public, max-age=31536000, immutable"`` for hashed names).
    :param allow_hidden: serve paths with a component starting with ``.``.
    """

    ordering_role: ClassVar[str] = "static_files"

    def __init__(
        self,
        *,
        url_prefix: str | None = None,
        directories: list[Path] | None = None,
        packages: list[str] | None = None,
        max_age: int = 0,
        cache_control: str | None = None,
        allow_hidden: bool = False,
        config: Settings | None = None,
    ) -> None:
        owner = type(self).__name__
        base_dir = config.BASE_DIR if config is not None else Path.cwd()
        self.url_prefix = _prefix(owner, url_prefix, config)
        self._prefix_length = len(self.url_prefix)

        # (directory, where it came from) for the error message.
        sources: list[tuple[Path, str]] = []
        if directories is None:
            root = config.STATIC_ROOT if config is not None else None
            if root is not None:
                sources.append((root, "STATIC_ROOT"))
        else:
            sources.extend((Path(d), f"directories[{i}]") for i, d in enumerate(directories))
        for index, spec in enumerate(packages or ()):
            sources.append(
                (_package_directory(owner, spec, index), f"packages[{index}] ({spec!r})")
            )
        if not sources:
            raise ImproperlyConfigured(
                f"{owner}: no directory to serve files from. Set STATIC_ROOT "
                "in the settings (e.g. STATIC_ROOT = 'static', taken from BASE_DIR), or give "
                "the middleware directories=[...] or packages=['mypackage:static'] in params."
            )
        resolved = [((base_dir / path).resolve(), origin) for path, origin in sources]
        missing = [f"{str(path)!r} ({origin})" for path, origin in resolved if not path.is_dir()]
        if missing:
            raise ImproperlyConfigured(
                f"{owner}: static directories that do not exist (or are not "
                f"directories): {', '.join(missing)}. Create them, or correct the setting; "
                f"relative paths are taken from BASE_DIR ({str(base_dir)!r})."
            )
        self.directories = tuple(str(path) for path, _ in resolved)

        if max_age < 0:
            raise ImproperlyConfigured(
                f"{owner}: max_age is {max_age}; give a number of seconds, "
                "0 or more (0 makes browsers revalidate every time)."
            )
        if cache_control is None:
            cache_control = f"public, max-age={max_age}" if max_age else "no-cache"
        elif not cache_control.strip() or "\n" in cache_control or "\r" in cache_control:
            raise ImproperlyConfigured(
                f"{owner}: cache_control {cache_control!r} is not a header "
                "value; give one line such as 'public, max-age=31536000, immutable', or "
                "leave it out and set max_age."
            )
        self.cache_control = cache_control
        self.allow_hidden = allow_hidden

    def process_request(self, request: Request) -> WerkzeugResponse | None:
        # PERF: every other request costs this one startswith.
        path = request.path
        if not path.startswith(self.url_prefix):
            return None
        if request.method not in _METHODS:
            raise MethodNotAllowed(valid_methods=_ALLOW)
        filename = self.find(path[self._prefix_length :])
        if filename is None:
            raise NotFound()
        try:
            response = send_file(filename, request.environ, response_class=Response)
        except FileNotFoundError:  # deleted since find(), e.g. during a deployment
            raise NotFound() from None
        response.headers["Cache-Control"] = self.cache_control
        # The server writes Date on every response, werkzeug's development server
        # (http.server) even when the app sent one: send_file's own made two.
        del response.headers["Date"]
        if response.status_code in _NO_BODY:
            # Some werkzeug releases (3.1.8 among them) keep the opened file as the
            # body of a 304/412 that no server reads: it stayed open until collected.
            response.close()
            response.response = []
        return response

    def find(self, relative: str) -> str | None:
        """The file a URL path (relative to the prefix) names, or ``None`` if it may not be served.

        ``safe_join`` refuses ``..`` and absolute paths; werkzeug has already
        percent-decoded the path, so ``%2e%2e`` and ``..%2f`` arrive as ``..``.
        """
        # A backslash is a separator on Windows and a NUL makes os.stat raise;
        # neither is in a real static file name, so refuse both everywhere.
        if "\\" in relative or "\x00" in relative:
            return None
        if not self.allow_hidden and any(
            part.startswith(".") for part in posixpath.normpath(relative).split("/")
        ):
            return None  # also "" and ".": the prefix itself is a directory
        for directory in self.directories:
            filename = safe_join(directory, relative)
            if filename is None:
                return None
            if os.path.isfile(filename):
                return filename
        return None


def _prefix(owner: str, url_prefix: str | None, config: Settings | None) -> str:
    name = "url_prefix"
    if url_prefix is None:
        name, url_prefix = "STATIC_URL", config.STATIC_URL if config is not None else "/static/"
    if "://" in url_prefix or url_prefix.startswith("//"):
        raise ImproperlyConfigured(
            f"{owner}: {name} is {url_prefix!r}, a full URL: files under it are "
            f"served by another host (a CDN), not by this app. Remove {owner} "
            "from MIDDLEWARES there, or give it url_prefix='/static/' to serve locally."
        )
    if not url_prefix.startswith("/") or url_prefix.strip("/") == "":
        raise ImproperlyConfigured(
            f"{owner}: {name} is {url_prefix!r}; it must be a URL path below "
            "the root, starting with '/', such as '/static/' (every request under it is "
            "answered from the static directories)."
        )
    return url_prefix if url_prefix.endswith("/") else url_prefix + "/"


def _package_directory(owner: str, spec: str, index: int) -> Path:
    package, _, subdirectory = spec.partition(":")
    where = f"{owner}: packages[{index}] ({spec!r})"
    try:
        directory = resources.files(package).joinpath(subdirectory or "static")
    except Exception as exc:  # importing runs the package's own code: anything can fail
        raise ImproperlyConfigured(
            f"{where}: cannot import package {package!r} ({type(exc).__name__}: {exc}). "
            "Entries are 'package:subdirectory', e.g. 'mypackage:static', naming an "
            "importable package."
        ) from exc
    if not isinstance(directory, Path):
        raise ImproperlyConfigured(
            f"{where}: the package is not installed as plain files (a zip archive?), so "
            "its files cannot be served; install it unzipped or copy them to STATIC_ROOT."
        )
    return directory

"""Cookies for the built-ins that read and set them: the options and signing keys,
checked at start-up, and the value of one cookie in a request's ``Cookie`` header."""

from __future__ import annotations

import functools
from typing import Any

from werkzeug.sansio.http import parse_cookie

from ..exceptions import ImproperlyConfigured
from ..settings import Settings
from ._http import HTTP_TOKEN

_SAMESITE = {"lax": "Lax", "strict": "Strict", "none": "None"}
#: How many ``Cookie`` headers :func:`cookie_value` remembers.
COOKIE_HEADERS_KEPT = 256


@functools.lru_cache(maxsize=COOKIE_HEADERS_KEPT)
def cookie_value(header: str | None, name: str) -> str | None:
    """The value of the cookie ``name`` in the ``Cookie`` header ``header`` (``None``
    or empty when the request sent none), if any.

    werkzeug's sansio parser, not ``request.cookies``: that also decodes the header
    as UTF-8 and raises on a badly encoded one.

    PERF: the parser takes ~1.8 us for a header holding a session cookie, and a
    browser sends the same header on every request until a cookie changes, so the
    answers for the last headers are kept: ~0.1 us a hit, in lru_cache's C code,
    which is thread-safe. The memory is bounded by the count and by the server's
    limit on a header's size (gunicorn's: 8 KiB).
    """
    return parse_cookie(header).get(name) if header else None


def signing_keys(
    owner: str,
    secret_key: str | None,
    secret_key_fallbacks: list[str] | None,
    config: Settings | None,
) -> list[str]:
    """The keys to sign with, oldest first, the order itsdangerous wants: the last signs.

    ``secret_key`` defaults to ``SECRET_KEY`` and ``secret_key_fallbacks`` to
    ``SECRET_KEY_FALLBACKS``; values signed with a fallback still verify.
    """
    key = secret_key if secret_key is not None or config is None else config.SECRET_KEY
    if not key:
        raise ImproperlyConfigured(
            f"{owner}: SECRET_KEY is empty, and a cookie signed with an empty key can be "
            "forged by anyone. Set SECRET_KEY (even with DEBUG on), or pass "
            "params {'secret_key': ...}."
        )
    if secret_key_fallbacks is None:
        secret_key_fallbacks = [] if config is None else config.SECRET_KEY_FALLBACKS
    return [*reversed(secret_key_fallbacks), key]


def cookie_options(
    owner: str,
    name: str,
    *,
    path: str,
    domain: str | None,
    secure: bool | None,
    httponly: bool,
    samesite: str,
) -> dict[str, Any]:
    """Checked ``dump_cookie`` arguments, ``secure`` left out (it may depend on the request).

    Browsers silently drop a cookie that breaks these rules; refusing it at
    start-up saves an afternoon of wondering why nobody stays logged in. The
    messages name the built-ins' parameters, ``cookie_`` and the argument's name.
    """
    if not HTTP_TOKEN.fullmatch(name):  # a cookie name is a token (RFC 6265 4.1.1)
        raise ImproperlyConfigured(
            f"{owner}: cookie_name {name!r} is not a valid cookie name; use letters, digits "
            "and '-_.' only."
        )
    same_site = _SAMESITE.get(samesite.lower())
    if same_site is None:
        raise ImproperlyConfigured(
            f"{owner}: cookie_samesite must be 'Lax', 'Strict' or 'None'; got {samesite!r}."
        )
    if same_site == "None" and secure is not True:
        raise ImproperlyConfigured(
            f"{owner}: cookie_samesite 'None' needs cookie_secure=True: browsers drop a "
            "SameSite=None cookie that is not Secure. Set cookie_secure to true (and serve "
            "over HTTPS), or use cookie_samesite 'Lax'."
        )
    if name.startswith(("__Host-", "__Secure-")) and secure is not True:
        raise ImproperlyConfigured(
            f"{owner}: a cookie named {name!r} needs cookie_secure=True; browsers ignore it "
            "otherwise."
        )
    if name.startswith("__Host-") and (path != "/" or domain is not None):
        raise ImproperlyConfigured(
            f"{owner}: a cookie named {name!r} needs cookie_path '/' and no cookie_domain; "
            "browsers ignore it otherwise."
        )
    return {"path": path, "domain": domain, "httponly": httponly, "samesite": same_site}

"""Cookie options and signing keys, checked at start-up, for the built-ins that set cookies."""

from __future__ import annotations

from typing import Any

from ..exceptions import ImproperlyConfigured
from ..settings import Settings
from ._http import HTTP_TOKEN

_SAMESITE = {"lax": "Lax", "strict": "Strict", "none": "None"}


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

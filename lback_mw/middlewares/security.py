"""Security headers on every response: the browser-side defences a site gets for free."""

from __future__ import annotations

import re
from typing import ClassVar

from werkzeug.wrappers import Response as WerkzeugResponse

from ..exceptions import ImproperlyConfigured
from ..wrappers import Request
from ._http import HTTP_TOKEN, append_trusted, header_names
from .base import BaseMiddleware

#: ``hsts=True`` means one year, the minimum hstspreload.org accepts.
HSTS_DEFAULT_MAX_AGE = 31_536_000

# Header values: no control characters (CR/LF would split the response), and
# latin-1, which is what WSGI servers encode header values with.
_BAD_VALUE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]|[^\x00-\xff]")


class SecurityHeadersMiddleware(BaseMiddleware):
    """Add security headers to every response, error pages included.

    A header the view (or an inner middleware) already set is left as it is, so
    one page can relax ``X-Frame-Options`` or tighten its own CSP. The headers
    are checked and built once, here; per response this costs one pass over the
    response's headers.

    :param content_type_nosniff: send ``X-Content-Type-Options: nosniff``.
    :param x_frame_options: ``X-Frame-Options``; ``None`` leaves it out.
    :param referrer_policy: ``Referrer-Policy``; ``None`` leaves it out.
    :param cross_origin_opener_policy: ``Cross-Origin-Opener-Policy``; ``None`` leaves it out.
    :param content_security_policy: ``Content-Security-Policy``, not sent by default.
    :param permissions_policy: ``Permissions-Policy``, not sent by default.
    :param headers: any other headers, name to value.
    :param hsts: ``Strict-Transport-Security`` on secure requests: ``True`` for one
        year, or a max-age in seconds (``0`` tells browsers to forget it).
    :param hsts_include_subdomains: add ``includeSubDomains``.
    :param hsts_preload: add ``preload`` (needs ``includeSubDomains`` and a year).
    """

    ordering_role: ClassVar[str] = "security_headers"

    def __init__(
        self,
        *,
        content_type_nosniff: bool = True,
        x_frame_options: str | None = "DENY",
        referrer_policy: str | None = "strict-origin-when-cross-origin",
        cross_origin_opener_policy: str | None = "same-origin",
        content_security_policy: str | None = None,
        permissions_policy: str | None = None,
        headers: dict[str, str] | None = None,
        hsts: bool | int = False,
        hsts_include_subdomains: bool = False,
        hsts_preload: bool = False,
    ) -> None:
        owner = type(self).__name__
        named = (
            (
                "content_type_nosniff",
                "X-Content-Type-Options",
                "nosniff" if content_type_nosniff else None,
            ),
            ("x_frame_options", "X-Frame-Options", x_frame_options),
            ("referrer_policy", "Referrer-Policy", referrer_policy),
            (
                "cross_origin_opener_policy",
                "Cross-Origin-Opener-Policy",
                cross_origin_opener_policy,
            ),
            ("content_security_policy", "Content-Security-Policy", content_security_policy),
            ("permissions_policy", "Permissions-Policy", permissions_policy),
            ("hsts", "Strict-Transport-Security", None),  # added per request, see below
        )
        claimed = {name.lower(): (param, name) for param, name, _ in named}
        chosen = [(param, name, value) for param, name, value in named if value is not None]
        for name, value in (headers or {}).items():
            param, canonical = claimed.get(name.lower(), ("", ""))
            if param.startswith("headers["):
                raise ImproperlyConfigured(
                    f"{owner}: headers has both {canonical!r} and {name!r}; header names "
                    "are case-insensitive, so keep one."
                )
            if param:
                raise ImproperlyConfigured(
                    f"{owner}: headers={{{name!r}: ...}} duplicates the {param!r} parameter. "
                    f"Set {canonical} with {param}=... instead"
                    + (" (HSTS is only sent on secure requests)." if param == "hsts" else ".")
                )
            claimed[name.lower()] = (f"headers[{name!r}]", name)
            chosen.append((f"headers[{name!r}]", name, value))
        for param, name, value in chosen:
            _check_header(owner, name, value, param)

        plain = tuple((name.lower(), (name, value)) for _, name, value in chosen)
        hsts_value = _hsts_value(owner, hsts, hsts_include_subdomains, hsts_preload)
        #: ``(lower-case name, (name, value))`` for plain http, and for secure requests.
        self.plain_headers = plain
        self.secure_headers = (
            plain
            if hsts_value is None
            else (*plain, ("strict-transport-security", ("Strict-Transport-Security", hsts_value)))
        )

    def process_response(self, request: Request, response: WerkzeugResponse) -> WerkzeugResponse:
        ours = self.secure_headers if request.is_secure else self.plain_headers
        headers = response.headers
        present = header_names(headers)
        append_trusted(headers, [header for lower, header in ours if lower not in present])
        return response


def _check_header(owner: str, name: str, value: str, param: str) -> None:
    if not HTTP_TOKEN.fullmatch(name):
        raise ImproperlyConfigured(
            f"{owner}: {param}: {name!r} is not a valid header name (letters, digits and "
            "!#$%&'*+-.^_`|~ only, no spaces or colons)."
        )
    if not value.strip():
        fix = (
            "remove it from headers"
            if param.startswith("headers[")
            else f"set {param} to None (null in YAML)"
        )
        raise ImproperlyConfigured(f"{owner}: {param} is empty. To leave {name} out, {fix}.")
    if bad := _BAD_VALUE.search(value):
        raise ImproperlyConfigured(
            f"{owner}: {param} = {value!r} contains {bad.group()!r}; a header value must be "
            "one line of latin-1 text without control characters (a newline would let it "
            "inject headers)."
        )


def _hsts_value(
    owner: str, max_age: bool | int, include_subdomains: bool, preload: bool
) -> str | None:
    """The ``Strict-Transport-Security`` value, or ``None`` when HSTS is off."""
    if max_age is False:
        if include_subdomains or preload:
            flag = "hsts_preload" if preload else "hsts_include_subdomains"
            raise ImproperlyConfigured(
                f"{owner}: {flag} is set but hsts is off, so no HSTS header is sent. "
                "Set hsts=True (one year) or hsts=<max-age in seconds>, or drop "
                f"{flag}."
            )
        return None
    if max_age is True:
        max_age = HSTS_DEFAULT_MAX_AGE
    if max_age < 0:
        raise ImproperlyConfigured(
            f"{owner}: hsts={max_age} is negative. Give a max-age in seconds "
            f"(hsts=True means {HSTS_DEFAULT_MAX_AGE}, one year; 0 tells browsers to drop HSTS)."
        )
    if preload and (not include_subdomains or max_age < HSTS_DEFAULT_MAX_AGE):
        raise ImproperlyConfigured(
            f"{owner}: hsts_preload=True needs hsts_include_subdomains=True and a max-age of "
            f"at least {HSTS_DEFAULT_MAX_AGE} (one year); got hsts_include_subdomains="
            f"{include_subdomains} and max-age {max_age}. hstspreload.org refuses anything "
            "less. Preloading is hard to undo: read https://hstspreload.org first."
        )
    return "; ".join(
        [f"max-age={max_age}"] + ["includeSubDomains"] * include_subdomains + ["preload"] * preload
    )

"""Refuse requests whose Host header names a site this app is not.

The Host header is the client's word. Code that builds absolute URLs from it
(password-reset links, redirects, cache keys) turns a forged Host into links to
the attacker's site; this middleware answers 400 before any of that runs.

The matching is written here rather than taken from werkzeug's
``host_is_trusted``: that one compares case-sensitively, drops everything after
the first ":" (so ``[::1]:8000`` becomes ``[``), has no subdomains-only or ``*``
pattern, and IDNA-encodes every pattern on every request. Patterns here are
normalised once, and a request costs a set lookup, or a ``str.endswith`` over a
tuple of suffixes.
"""

from __future__ import annotations

import ipaddress
import logging
import re
from collections.abc import Sequence
from typing import ClassVar
from urllib.parse import urlsplit

from werkzeug.utils import redirect
from werkzeug.wrappers import Response as WerkzeugResponse

from ..exceptions import ImproperlyConfigured
from ..settings import Settings
from ..wrappers import Request, Response
from ._http import url_with
from .base import BaseMiddleware

#: What an empty host list means with DEBUG on (Django's choice).
DEBUG_HOSTS = ("localhost", "127.0.0.1", "[::1]", ".localhost")

# A host name or IPv4 address once lower-cased: dot-separated labels, none empty.
_HOSTNAME = re.compile(r"[a-z0-9-]+(?:\.[a-z0-9-]+)*")

_FORMS = (
    "A pattern is a host name ('example.com'), '*.example.com' (its subdomains only), "
    "'.example.com' (the domain and its subdomains), '*' (any host) or an IP address "
    "('127.0.0.1', '::1')."
)


class TrustedHostMiddleware(BaseMiddleware):
    """Answer 400 to a request whose ``Host`` is not an allowed host.

    Ports are ignored (``example.com:8080`` is ``example.com``), names compare
    case-insensitively and a final dot (``example.com.``) is dropped. A Host that
    is not syntactically a host (anything beyond letters, digits, ``-``, ``.``,
    a bracketed IPv6 address and a numeric port) is refused even with ``"*"``.

    :param allowed_hosts: the patterns; ``None`` takes ``ALLOWED_HOSTS`` from
        the settings. Empty means the localhost names with ``DEBUG`` on, and is
        an error otherwise.
    :param www_redirect: redirect ``example.com`` to ``www.example.com`` when only
        the latter is allowed (Starlette's behaviour).
    """

    ordering_role: ClassVar[str] = "trusted_host"

    def __init__(
        self,
        *,
        allowed_hosts: list[str] | None = None,
        www_redirect: bool = False,
        config: Settings | None = None,
        logger: logging.Logger | None = None,
    ) -> None:
        owner = type(self).__name__
        debug = bool(config and config.DEBUG)
        source = "allowed_hosts"
        if allowed_hosts is None:
            source = "ALLOWED_HOSTS"
            allowed_hosts = list(config.ALLOWED_HOSTS) if config else []
        patterns: Sequence[str] = allowed_hosts
        if not patterns:
            if not debug:
                raise ImproperlyConfigured(
                    f"{owner}: no allowed hosts, so every request would be "
                    "refused. Set ALLOWED_HOSTS in the settings (e.g. ALLOWED_HOSTS = "
                    "['example.com', 'www.example.com']), or give this middleware its own "
                    "list with the allowed_hosts param. An empty list is accepted only with "
                    f"DEBUG on, where it means {', '.join(DEBUG_HOSTS)}."
                )
            patterns = DEBUG_HOSTS

        exact: set[str] = set()
        suffixes: list[str] = []
        for index, pattern in enumerate(patterns):
            name = _normalise(pattern, f"{owner}: {source}[{index}]")
            if name.startswith("*."):
                suffixes.append(name[1:])
            elif name.startswith("."):
                exact.add(name[1:])
                suffixes.append(name)
            else:
                exact.add(name)
        self.allow_any = "*" in exact
        self.exact = frozenset(exact - {"*"})
        self.suffixes = tuple(suffixes)
        self.www_redirect = www_redirect
        self.debug = debug
        #: Where the patterns came from, for the DEBUG hint: the param or the setting.
        self.source = source
        self.logger = logger or logging.getLogger(__name__)

    def process_request(self, request: Request) -> WerkzeugResponse | None:
        # PERF: the usual case is a Host header exactly as listed (no port, lower
        # case); one set lookup on the raw header answers it without werkzeug's
        # request.host (~1 us), since a listed name is a valid host by construction.
        if request.environ.get("HTTP_HOST") in self.exact:
            return None
        # werkzeug's request.host: the Host header, or SERVER_NAME:SERVER_PORT when
        # there is none (HTTP/1.0); "" when its characters are not a host's; the
        # port dropped when it is the scheme's default.
        host = request.host
        if host in self.exact:  # as listed once werkzeug dropped a default port
            return None
        domain = _domain(host)
        if domain and self.is_allowed(domain):
            return None
        if self.www_redirect and domain and self.is_allowed(f"www.{domain}"):
            return redirect(url_with(request, request.scheme, f"www.{host}"), 307, Response)
        return self.refuse(request, domain)

    def is_allowed(self, domain: str) -> bool:
        """Whether a normalised host name (no port, lower case) is allowed."""
        return self.allow_any or domain in self.exact or domain.endswith(self.suffixes)

    def refuse(self, request: Request, domain: str) -> WerkzeugResponse:
        """The 400 for a bad host; the host itself is only shown with DEBUG on."""
        sent = request.headers.get("Host", request.host)[:200]
        self.logger.warning("Invalid Host header %r on %s %r", sent, request.method, request.path)
        body = "Invalid host header"
        if self.debug:
            body += f": {sent!r}."
            if domain:
                body += f" You may need to add {domain!r} to {self.source}."
        return Response(body, status=400, mimetype="text/plain")


def _domain(host: str) -> str:
    """``host[:port]`` -> the lower-case host name, without port or final dot, and
    an IPv6 address in the compressed form :func:`_normalise` gives the patterns."""
    if not host:
        return ""
    if host[0] == "[":
        # The full and the compressed spelling are one address: compare them as
        # the patterns are compared, or a host exactly as listed would be refused.
        try:
            address = ipaddress.IPv6Address(host[1:].partition("]")[0])
        except ValueError:
            return ""
        return f"[{address.compressed}]"
    host = host.rpartition(":")[0] or host
    domain = host.lower().removesuffix(".")
    # werkzeug checks only the characters: an empty label (".api.example.com",
    # "a..example.com") would pass the suffix match of "*.api.example.com".
    return "" if domain.startswith(".") or ".." in domain else domain


def _normalise(pattern: str, where: str) -> str:
    """A pattern lower-cased, IDNA-encoded, final dot dropped, IPv6 bracketed."""
    value = pattern.lower().removesuffix(".")
    if value == "*":
        return value
    prefix = "*." if value.startswith("*.") else "." if value.startswith(".") else ""
    name = value[len(prefix) :]
    if not name.isascii():
        try:
            name = name.encode("idna").decode("ascii")
        except UnicodeError:
            raise _error(
                pattern, where, "it is not a valid internationalised domain name"
            ) from None
    if name.count(":") > 1:  # an IPv6 address, maybe bracketed, maybe with a port
        try:
            address = ipaddress.IPv6Address(name.removeprefix("[").removesuffix("]"))
        except ValueError:
            hint = "it is not an IPv6 address; write it as '::1' or '[::1]', without a port"
            raise _error(pattern, where, hint) from None
        if prefix:
            raise _error(pattern, where, f"'{prefix}' cannot apply to an IP address")
        return f"[{address.compressed}]"
    if not _HOSTNAME.fullmatch(name):
        raise _error(pattern, where, _hint(pattern, prefix, name))
    return prefix + name


def _hint(pattern: str, prefix: str, name: str) -> str:
    if "://" in pattern:
        return f"it is a URL, not a host name; write {urlsplit(pattern).hostname!r}"
    if "*" in name:
        bare = name.lstrip("*.")
        return (
            "'*' may only be the whole pattern or start it as '*.'; did you mean "
            f"'*.{bare}' (subdomains only) or '.{bare}' (the domain and its subdomains)?"
        )
    if "/" in name:
        return f"a host name has no path; write {prefix + name.partition('/')[0]!r}"
    if ":" in name:
        return (
            "ports are ignored when matching, so a pattern has none; write "
            f"{prefix + name.partition(':')[0]!r}"
        )
    return "a host name has only letters, digits, '-' and dots between non-empty labels"


def _error(pattern: str, where: str, hint: str) -> ImproperlyConfigured:
    return ImproperlyConfigured(f"{where} = {pattern!r} is not a host pattern: {hint}. {_FORMS}")

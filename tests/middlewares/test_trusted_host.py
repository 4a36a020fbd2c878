"""TrustedHostMiddleware: every pattern form, hostile Host values, www redirect, configuration."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

import pytest
from werkzeug.middleware.lint import LintMiddleware
from werkzeug.test import Client as WerkzeugClient

from lback_mw import App, ImproperlyConfigured, Request
from lback_mw.testing import Client

Factory = Callable[..., App]
ClientFor = Callable[[App], Client]

TRUSTED = "lback_mw.middlewares.TrustedHostMiddleware"
PATTERNS = ["example.com", "*.api.example.com", ".shop.test", "[::1]", "10.0.0.1"]


def build(app_factory: Factory, params: dict[str, Any] | None = None, **settings: Any) -> App:
    app = app_factory(MIDDLEWARES=[{"class": TRUSTED, "params": params or {}}], **settings)

    @app.route("/", defaults={"path": ""})
    @app.route("/<path:path>")
    def echo(request: Request, path: str) -> str:
        return request.host

    return app


def statuses(client: Client, hosts: Iterable[str]) -> dict[str, int]:
    # environ_overrides: the test client refuses to build some of these as headers.
    return {
        host: client.get("/", environ_overrides={"HTTP_HOST": host}).status_code for host in hosts
    }


@pytest.mark.parametrize(
    ("host", "status"),
    [
        ("example.com", 200),
        ("EXAMPLE.com", 200),
        ("example.com.", 200),  # fully qualified
        ("example.com:8080", 200),
        ("example.com:80", 200),
        ("www.example.com", 400),
        ("example.org", 400),
        # *.api.example.com: subdomains at any depth, not the domain itself
        ("v1.api.example.com", 200),
        ("a.b.api.example.com:8443", 200),
        ("api.example.com", 400),
        ("xapi.example.com", 400),
        (".api.example.com", 400),  # empty labels: not a host name at all
        ("v1..api.example.com", 400),
        ("..shop.test", 400),
        # .shop.test: the domain and its subdomains
        ("shop.test", 200),
        ("eu.shop.test", 200),
        ("Deep.EU.shop.test.", 200),
        ("evilshop.test", 400),
        # IP addresses
        ("[::1]", 200),
        ("[::1]:8000", 200),
        ("[::2]", 400),
        ("10.0.0.1:5000", 200),
        ("10.0.0.10", 400),
        # hostile
        ("evil.com@example.com", 400),
        ("example.com.evil.com", 400),
        ("example.com\r\nX: y", 400),
        ("example.com/evil", 400),
        ("example.com:", 400),
        ("example.com:http", 400),
        ("exa mple.com", 400),
        ("", 400),
    ],
)
def test_patterns(app_factory: Factory, client_for: ClientFor, host: str, status: int) -> None:
    client = client_for(build(app_factory, {"allowed_hosts": PATTERNS}))
    assert statuses(client, [host]) == {host: status}


def test_refusal_is_plain_text_and_logged(
    app_factory: Factory, client_for: ClientFor, caplog: pytest.LogCaptureFixture
) -> None:
    client = client_for(build(app_factory, {"allowed_hosts": ["example.com"]}))
    caplog.clear()  # the app's start-up records (at DEBUG in the suite, see conftest)
    with caplog.at_level(logging.WARNING, "lback_mw.middlewares.trusted_host"):
        response = client.get("/x", environ_overrides={"HTTP_HOST": "evil.com\r\nX: y"})
    assert response.status_code == 400
    assert response.mimetype == "text/plain"
    assert response.text == "Invalid host header"  # DEBUG off: the host is not echoed
    assert "X" not in response.headers
    assert caplog.messages == ["Invalid Host header 'evil.com\\r\\nX: y' on GET '/x'"]


def test_debug_refusal_names_the_host_and_the_fix(
    app_factory: Factory, client_for: ClientFor
) -> None:
    client = client_for(build(app_factory, DEBUG=True, ALLOWED_HOSTS=["example.com"]))
    response = client.get("/", environ_overrides={"HTTP_HOST": "Example.org:8000"})
    assert response.text == (
        "Invalid host header: 'Example.org:8000'. "
        "You may need to add 'example.org' to ALLOWED_HOSTS."
    )
    response = client.get("/", environ_overrides={"HTTP_HOST": "<script>"})
    assert response.text == "Invalid host header: '<script>'."
    assert response.mimetype == "text/plain"


def test_star_allows_any_valid_host_only(app_factory: Factory, client_for: ClientFor) -> None:
    client = client_for(build(app_factory, {"allowed_hosts": ["*"]}))
    hosts = ["anything.example", "[::1]:1", "1.2.3.4", "a@b", "a b", "", ".a.example", "a..b"]
    assert statuses(client, hosts) == {
        "anything.example": 200,
        "[::1]:1": 200,
        "1.2.3.4": 200,
        "a@b": 400,
        "a b": 400,
        "": 400,
        ".a.example": 400,
        "a..b": 400,
    }


def test_ipv6_pattern_without_brackets(app_factory: Factory, client_for: ClientFor) -> None:
    client = client_for(build(app_factory, {"allowed_hosts": ["::1", "2001:DB8:0::1"]}))
    assert statuses(client, ["[::1]:8000", "[2001:db8::1]", "[::2]"]) == {
        "[::1]:8000": 200,
        "[2001:db8::1]": 200,
        "[::2]": 400,
    }


def test_pattern_case_dot_and_idna(app_factory: Factory, client_for: ClientFor) -> None:
    client = client_for(build(app_factory, {"allowed_hosts": ["Example.COM.", "bücher.de"]}))
    assert statuses(client, ["example.com", "xn--bcher-kva.de", "bucher.de"]) == {
        "example.com": 200,
        "xn--bcher-kva.de": 200,
        "bucher.de": 400,
    }


def test_defaults_to_allowed_hosts_setting(app_factory: Factory, client_for: ClientFor) -> None:
    app = build(app_factory, ALLOWED_HOSTS=["example.com"])
    assert statuses(client_for(app), ["example.com", "localhost"]) == {
        "example.com": 200,
        "localhost": 400,
    }
    # The param replaces the setting.
    app = build(app_factory, {"allowed_hosts": ["other.test"]}, ALLOWED_HOSTS=["example.com"])
    assert statuses(client_for(app), ["example.com", "other.test"]) == {
        "example.com": 400,
        "other.test": 200,
    }


def test_debug_with_no_hosts_allows_localhost(app_factory: Factory, client_for: ClientFor) -> None:
    client = client_for(build(app_factory, DEBUG=True))
    hosts = ["localhost", "localhost:8000", "app.localhost", "127.0.0.1:5000", "[::1]"]
    assert statuses(client, [*hosts, "example.com", "127.0.0.2"]) == {
        **dict.fromkeys(hosts, 200),
        "example.com": 400,
        "127.0.0.2": 400,
    }


def test_missing_host_header_checks_server_name(app_factory: Factory) -> None:
    """HTTP/1.0 without Host: werkzeug uses SERVER_NAME:SERVER_PORT, checked like a Host."""
    app = build(app_factory, {"allowed_hosts": ["example.com"]})

    def without_host(environ: dict[str, Any], start_response: Any) -> Any:
        del environ["HTTP_HOST"]
        environ["SERVER_PROTOCOL"] = "HTTP/1.0"
        return app(environ, start_response)

    client = WerkzeugClient(LintMiddleware(without_host))
    response = client.get("/", base_url="http://example.com", buffered=True)
    assert (response.status_code, response.get_data()) == (200, b"example.com")
    response = client.get("/", base_url="http://10.1.2.3:8000", buffered=True)
    assert (response.status_code, response.get_data()) == (400, b"Invalid host header")


@pytest.mark.parametrize(
    ("base_url", "path", "location"),
    [
        ("http://example.com", "/a/b?x=1&y=%2F", "http://www.example.com/a/b?x=1&y=%2F"),
        ("https://example.com:8443", "/caf%C3%A9", "https://www.example.com:8443/caf%C3%A9"),
        ("http://example.com:80", "/", "http://www.example.com/"),
    ],
)
def test_www_redirect(
    app_factory: Factory, client_for: ClientFor, base_url: str, path: str, location: str
) -> None:
    params = {"allowed_hosts": ["www.example.com"], "www_redirect": True}
    response = client_for(build(app_factory, params)).get(path, base_url=base_url)
    assert response.status_code == 307
    assert response.headers["Location"] == location


def test_www_redirect_only_towards_an_allowed_www(
    app_factory: Factory, client_for: ClientFor
) -> None:
    params = {"allowed_hosts": ["www.example.com", "api.test"], "www_redirect": True}
    client = client_for(build(app_factory, params))
    assert statuses(client, ["www.example.com", "example.org", "api.test", "test"]) == {
        "www.example.com": 200,
        "example.org": 400,
        "api.test": 200,
        "test": 400,  # www.test is not allowed
    }
    # Without the option, the bare domain is simply refused.
    client = client_for(build(app_factory, {"allowed_hosts": ["www.example.com"]}))
    assert statuses(client, ["example.com"]) == {"example.com": 400}


def test_empty_list_without_debug_is_an_error(app_factory: Factory) -> None:
    with pytest.raises(ImproperlyConfigured) as caught:
        build(app_factory)
    message = str(caught.value)
    assert message.startswith(f"MIDDLEWARES[0] ({TRUSTED!r}): TrustedHostMiddleware: no allowed")
    assert "Set ALLOWED_HOSTS in the settings" in message
    assert "allowed_hosts param" in message
    with pytest.raises(ImproperlyConfigured, match="no allowed hosts"):
        build(app_factory, {"allowed_hosts": []}, ALLOWED_HOSTS=["example.com"])


@pytest.mark.parametrize(
    ("pattern", "hint"),
    [
        ("*example.com", "did you mean '*.example.com' (subdomains only) or '.example.com'"),
        ("http://example.com/", "it is a URL, not a host name; write 'example.com'"),
        ("a/b", "a host name has no path; write 'a'"),
        ("example.com:8080", "ports are ignored when matching, so a pattern has none; write"),
        ("[::1]:8000", "it is not an IPv6 address; write it as '::1' or '[::1]', without a port"),
        ("*.::1", "'*.' cannot apply to an IP address"),
        ("exa mple.com", "letters, digits, '-' and dots between non-empty labels"),
        ("a..b", "letters, digits, '-' and dots between non-empty labels"),
        ("", "letters, digits"),
    ],
)
def test_bad_patterns(app_factory: Factory, pattern: str, hint: str) -> None:
    with pytest.raises(ImproperlyConfigured) as caught:
        build(app_factory, {"allowed_hosts": ["ok.example", pattern]})
    message = str(caught.value)
    assert f"allowed_hosts[1] = {pattern!r} is not a host pattern: " in message
    assert hint in message
    assert "'*.example.com' (its subdomains only)" in message  # the list of valid forms


def test_bad_pattern_in_the_setting_names_the_setting(app_factory: Factory) -> None:
    with pytest.raises(ImproperlyConfigured, match=r"ALLOWED_HOSTS\[0\] = '\*example.com'"):
        build(app_factory, ALLOWED_HOSTS=["*example.com"])


#: Django's ALLOWED_HOSTS from its legit/poisoned host tests (requests_tests), plus
#: IPv6 addresses listed in full form.
DJANGO_ALLOWED = [
    "forward.com",
    "example.com",
    "internal.com",
    "12.34.56.78",
    "[2001:19f0:feee::dead:beef:cafe]",
    "xn--4ca9at.com",
    ".multitenant.com",
    "INSENSITIVE.com",
    "[::ffff:169.254.169.254]",
    "[1851:0000:3238:DEF1:0177:0000:0000:0125]",
    "[::ffff:127.0.0.1]",
]


@pytest.mark.parametrize(
    ("host", "status"),
    [
        # Django's legit hosts
        ("example.com", 200),
        ("example.com:80", 200),
        ("12.34.56.78", 200),
        ("12.34.56.78:443", 200),
        ("[2001:19f0:feee::dead:beef:cafe]", 200),
        ("[2001:19f0:feee::dead:beef:cafe]:8080", 200),
        ("xn--4ca9at.com", 200),
        ("anything.multitenant.com", 200),
        ("multitenant.com", 200),
        ("insensitive.com", 200),
        ("example.com.", 200),
        ("example.com.:80", 200),
        ("[::ffff:169.254.169.254]", 200),
        # full-form IPv6, as listed and spelt otherwise
        ("[1851:0000:3238:DEF1:0177:0000:0000:0125]", 200),
        ("[1851:0:3238:def1:177::125]:8000", 200),
        ("[::ffff:127.0.0.1]:8080", 200),
        ("[::ffff:7f00:1]", 200),
        ("[::ffff:127.0.0.2]", 400),
        ("[1851::zz]", 400),
        # Django's poisoned hosts
        ("example.com@evil.tld", 400),
        ("example.com:dr.frankenstein@evil.tld", 400),
        ("example.com:dr.frankenstein@evil.tld:80", 400),
        ("example.com:80/badpath", 400),
        ("example.com: recovermypassword.com", 400),
    ],
)
def test_django_host_lists(
    app_factory: Factory, client_for: ClientFor, host: str, status: int
) -> None:
    client = client_for(build(app_factory, {"allowed_hosts": DJANGO_ALLOWED}))
    assert statuses(client, [host]) == {host: status}


@pytest.mark.parametrize("pattern", [p for p in DJANGO_ALLOWED if not p.startswith(".")])
def test_a_host_exactly_as_listed_is_allowed(
    app_factory: Factory, client_for: ClientFor, pattern: str
) -> None:
    client = client_for(build(app_factory, {"allowed_hosts": [pattern]}))
    assert statuses(client, [pattern, f"{pattern}:8080"]) == {pattern: 200, f"{pattern}:8080": 200}

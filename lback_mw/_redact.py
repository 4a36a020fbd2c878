"""Passwords out of URLs, for every message, log line and listing that shows one."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit

#: Query parameters whose values are secrets (``redis://host?password=...``).
_SECRET_QUERY_KEYS = frozenset({"password"})


def redact_url(url: str, mask: str = "***") -> str:
    """``url`` with any password (in the user part or the query) replaced by ``mask``.

    URLs end up in error messages, logs and terminals; a password never should.
    Not SQLAlchemy's ``make_url(url).render_as_string(hide_password=True)``: it
    fails on the several hosts of ``redis+sentinel://`` and ``redis+cluster://``
    URLs and shows a ``?password=`` query parameter.
    """
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:  # an unparseable port; the password may still be in there
        return "(unparseable URL)"
    netloc, query = parts.netloc, parts.query
    if password is not None:
        userinfo, _, hostinfo = netloc.rpartition("@")
        netloc = f"{userinfo.partition(':')[0]}:{mask}@{hostinfo}"
    pairs = parse_qsl(query, keep_blank_values=True)
    if any(name in _SECRET_QUERY_KEYS for name, _ in pairs):
        query = urlencode(
            [(name, mask if name in _SECRET_QUERY_KEYS else value) for name, value in pairs],
            safe="*/",
        )
    elif password is None:
        return url
    # Not urlunsplit: it drops the "//" of schemes it does not know ("sqlite:///x").
    return f"{parts.scheme}://{netloc}{parts.path}" + (f"?{query}" if query else "")

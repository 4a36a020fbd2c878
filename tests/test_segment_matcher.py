"""The router's fast matchers answer exactly as werkzeug's matcher alone does.

Every rule set is registered on a :class:`Router`; each request is matched by the
router (static dictionary, then the segment matcher, then werkzeug) and by
werkzeug's ``MapAdapter`` on the same map, and the outcomes are compared: the rule
and values, or the exception with its code, redirect target and allowed methods.
"""

from __future__ import annotations

import itertools
import random
from typing import Any

import pytest
from werkzeug.exceptions import HTTPException, MethodNotAllowed
from werkzeug.routing import RequestRedirect
from werkzeug.test import EnvironBuilder

from lback_mw import Request
from lback_mw.routing import Router

#: The rules of tests/test_routing.py, and shapes the segment matcher must refuse.
ROUTING_TABLE = [
    ("/users/<int:user_id>", ["GET"]),
    ("/files/<path:name>", ["GET", "DELETE"]),
    ("/docs/", ["GET"]),
    ("/custom", ["GET", "OPTIONS"]),
    ("/links", ["GET"]),
]

MIXED = [
    ("/", ["GET"]),
    ("/users", ["GET", "POST"]),
    ("/users/", ["PUT"]),
    ("/users/me", ["GET"]),
    ("/users/<int:id>", ["GET", "DELETE"]),
    ("/users/<name>", ["POST"]),
    ("/users/<int:id>/posts/<int(fixed_digits=3):post>", ["GET"]),
    ("/users/<int(signed=True):id>/x", ["GET"]),
    ("/notes/<int:id>/", ["GET"]),
    ("/notes/<string(length=2):code>", ["GET"]),
    ("/items/<float:price>", ["GET"]),
    ("/items/<uuid:key>", ["GET"]),
    ("/kind/<any(a, b):kind>/<int(min=2, max=9):n>", ["GET"]),
    ("/a.b/<int:x>.json", ["GET"]),
    ("/defaults/<int:page>", ["GET"]),
    ("/static/<path:rest>", ["GET"]),
    ("/two/<a>-<b>", ["GET"]),
    ("/m/<x>", ["GET"]),  # a group of two rules that both match /m/5
    ("/m/<int:n>", ["GET"]),
    ("/lo/<int(min=3):n>", ["GET"]),  # bounds: not a plain int()
    ("/hi/<int(max=5):n>", ["GET"]),
]

FIRST_SEGMENT_CONVERTER = [*MIXED, ("/<lang>/about", ["GET"])]

PATHS = [
    "/", "/users", "/users/", "/users/me", "/users/me/", "/users/42", "/users/42/",
    "/users/-3", "/users/-3/x", "/users/3/x", "/users/abc", "/users/42/posts/007",
    "/users/42/posts/7", "/users//42", "//users/42", "/users/\u0664\u0662", "/notes/5",
    "/notes/5/", "/notes/ab", "/notes/abc", "/notes/12", "/notes/12/", "/items/1.5", "/items/15",
    "/items/0b6f2a4e-8d3c-4a57-9a7e-2d1f5c3b8a90", "/kind/a/3", "/kind/c/3", "/kind/b/10",
    "/a.b/4.json", "/a.b/4", "/defaults/2", "/static/css/site.css", "/two/x-y",
    "/files/a/b.txt", "/docs", "/docs/", "/custom", "/links", "/links/", "/nowhere",
    "/en/about", "/users/42/extra", "/m/5", "/m/x", "/lo/1", "/lo/4", "/hi/9", "/hi/2",
]  # fmt: skip

METHODS = ["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS"]


def _router(rules: list[tuple[str, list[str]]]) -> Router:
    router = Router()
    for index, (rule, methods) in enumerate(rules):
        options: dict[str, Any] = {"defaults": {"page": 1}} if rule.startswith("/defaults") else {}
        router.add(rule, lambda request, **values: "", methods, f"e{index}", **options)
    return router


def _outcome(match: Any) -> tuple[Any, ...]:
    try:
        rule, values = match()
    except RequestRedirect as exc:
        return ("redirect", exc.code, exc.new_url)
    except MethodNotAllowed as exc:
        return ("405", sorted(exc.valid_methods or ()))
    except HTTPException as exc:
        return ("error", exc.code)
    return (rule.endpoint, dict(values), {k: type(v) for k, v in values.items()})


def _compare(router: Router, paths: list[str]) -> int:
    checked = 0
    for path, method in itertools.product(paths, METHODS):
        environ = EnvironBuilder(path=path, method=method).get_environ()
        request = Request(environ)
        ours = _outcome(lambda: router.match(request))  # noqa: B023
        theirs = _outcome(
            lambda: router.url_map.bind_to_environ(environ).match(return_rule=True)  # noqa: B023
        )
        assert ours == theirs, (path, method)
        checked += 1
    return checked


@pytest.mark.parametrize(
    "rules",
    [ROUTING_TABLE, MIXED, FIRST_SEGMENT_CONVERTER],
    ids=["test_routing table", "mixed", "a converter in the first segment"],
)
def test_the_fast_matchers_answer_as_werkzeug(rules: list[tuple[str, list[str]]]) -> None:
    assert _compare(_router(rules), PATHS) == len(PATHS) * len(METHODS)


def test_the_segment_matcher_answers_most_converter_requests() -> None:
    router = _router(MIXED)
    assert router._segments.enabled  # no rule has a converter in its first segment
    assert router._segments.match("/kind/a/3", "GET") is not None  # a group of one rule
    assert router._segments.match("/items/1.5", "GET") is not None
    assert router._segments.match("/users/42/posts/007", "GET") is not None
    assert router._segments.match("/users/42", "GET") is None  # <int:id> and <name>: weighed
    assert router._segments.match("/notes/5", "GET") is None  # werkzeug redirects
    assert not _router(FIRST_SEGMENT_CONVERTER)._segments.enabled


_SEGMENTS = ["a", "b", "<int:{}>", "<{}>", "<int(signed=True):{}>", "<float:{}>", ""]
_VALUES = ["a", "b", "1", "-1", "1.5", "x", ""]


@pytest.mark.parametrize("seed", range(20))
def test_generated_tables_match_werkzeug(seed: int) -> None:
    generator = random.Random(seed)
    rules: dict[str, list[str]] = {}
    while len(rules) < 8:
        tail = [generator.choice(_SEGMENTS).format(f"v{i}") for i in range(generator.randint(0, 3))]
        if "" in tail[:-1]:
            continue
        rule = "/" + "/".join([generator.choice(["a", "b"]), *tail])
        rules[rule] = generator.sample(["GET", "POST", "PUT"], generator.randint(1, 2))
    paths = {
        "/" + "/".join(generator.choice(_VALUES) for _ in range(generator.randint(1, 4)))
        for _ in range(60)
    }
    _compare(_router(list(rules.items())), sorted(paths))


def _redirecting_router() -> Router:
    """Rules werkzeug redirects between, and an ``any`` item spanning two segments."""
    router = Router()

    def view(request: Request, **values: Any) -> str:
        return ""

    router.add("/items/<int:id>", view, endpoint="item")
    router.add("/old/<int:id>", view, endpoint="item", alias=True)
    router.add("/pages/", view, endpoint="pages", defaults={"page": 1})
    router.add("/pages/<int:page>", view, endpoint="pages")
    router.add("/", view, endpoint="index", defaults={"page": 1})
    router.add("/page/<int:page>", view, endpoint="index")  # another group than "/"
    router.add("/archive/<int:page>", view, endpoint="archive")  # its defaults rule comes later
    router.add("/recent", view, endpoint="archive", defaults={"page": 1})
    router.add("/x/<any('a/b', c):v>", view, endpoint="x")
    router.add("/static-alias", view, endpoint="static_alias", alias=True)
    router.add("/moved/<int:id>", view, endpoint="moved", redirect_to="/items/<id>")
    router.add("/built/<int:id>", view, endpoint="built", build_only=True)
    # A group of one modelled rule that a later, unmodelled rule joins.
    router.add("/d/<x>", view, endpoint="d_text")
    router.add("/d/<int:id>", view, endpoint="d_number", defaults={"extra": 1})
    return router


def test_aliases_defaults_and_slashes_in_any_are_werkzeugs() -> None:
    # Regression: the fast matchers served /old/5, /static-alias, /page/1 and
    # /archive/1 (werkzeug redirects them, to /items/5, to no alias, to / and to
    # /recent) and /x/a/b (werkzeug answers 404).
    paths = [
        "/items/5", "/old/5", "/pages/", "/pages/1", "/pages/2", "/", "/page/1", "/page/2",
        "/archive/1", "/archive/2", "/recent", "/x/a/b", "/x/c", "/x/a", "/static-alias",
        "/moved/5", "/built/5", "/d/5", "/d/x",
    ]  # fmt: skip
    assert _compare(_redirecting_router(), paths) == len(paths) * len(METHODS)

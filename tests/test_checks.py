"""The warnings of ``lback-mw check``, on apps built in-process."""

from __future__ import annotations

import re
from typing import Any

import pytest

from lback_mw import App, BaseMiddleware, MiddlewareNotUsed
from lback_mw.checks import (
    ORDERING_RULES,
    RECOMMENDED_ORDER,
    ROLE_NAMES,
    CheckMessage,
    OrderingRule,
    check_app,
)
from lback_mw.testing import make_app

LONG_KEY = "x" * 40


def with_role(role: str | None) -> type[BaseMiddleware]:
    """A middleware class with ``ordering_role = role`` and one real hook."""

    class Role(BaseMiddleware):
        ordering_role = role

        def process_request(self, request: Any) -> None:
            return None

    Role.__qualname__ = f"Role_{role}"
    return Role


def warnings_for(*middlewares: Any, **settings: Any) -> list[CheckMessage]:
    app = make_app({"SECRET_KEY": LONG_KEY, **settings}, MIDDLEWARES=list(middlewares))
    return check_app(app)


def test_recommended_order_has_no_warnings() -> None:
    assert warnings_for(*(with_role(role) for role in RECOMMENDED_ORDER)) == []


@pytest.mark.parametrize("rule", ORDERING_RULES, ids=lambda rule: f"{rule.outer}<{rule.inner}")
def test_every_rule_agrees_with_the_recommended_order(rule: OrderingRule) -> None:
    assert RECOMMENDED_ORDER.index(rule.outer) < RECOMMENDED_ORDER.index(rule.inner)
    assert rule.outer in ROLE_NAMES
    assert rule.inner in ROLE_NAMES


def test_reversed_recommended_order_warns_for_every_rule() -> None:
    warnings = warnings_for(*(with_role(role) for role in reversed(RECOMMENDED_ORDER)))
    assert len(warnings) == len(ORDERING_RULES)


@pytest.mark.parametrize(
    "rule", [pytest.param(rule, id=f"{rule.outer} before {rule.inner}") for rule in ORDERING_RULES]
)
def test_each_ordering_rule_warns_when_broken(rule: OrderingRule) -> None:
    inner, outer = with_role(rule.inner), with_role(rule.outer)
    assert warnings_for(outer, inner) == []
    [warning] = warnings_for(inner, with_role(None), outer)
    assert warning.id == "lback.W001"
    assert f"MIDDLEWARES[2] ('{outer.__module__}.Role_{rule.outer}')" in warning.message
    assert f"comes after MIDDLEWARES[0] ('{inner.__module__}.Role_{rule.inner}')" in (
        warning.message
    )
    assert rule.reason in warning.message
    assert warning.message.endswith("Move MIDDLEWARES[2] above MIDDLEWARES[0].")


def test_security_headers_inside_gzip_is_named_plainly() -> None:
    [warning] = warnings_for(with_role("gzip"), with_role("security_headers"))
    assert warning.message.startswith("security headers placed inside gzip: ")
    assert str(warning).startswith("lback.W001: security headers placed inside gzip")


def test_every_misplaced_pair_is_reported() -> None:
    auth, cors = with_role("auth"), with_role("cors")
    warnings = warnings_for(auth, cors, auth, cors)
    pair = re.compile(
        r"(MIDDLEWARES\[\d\]) \('[^']*'\) \(role 'cors'\) comes after "
        r"(MIDDLEWARES\[\d\])"
    )
    # The first Cors is outside the second Auth, which is fine.
    assert [pair.findall(warning.message) for warning in warnings] == [
        [("MIDDLEWARES[1]", "MIDDLEWARES[0]")],
        [("MIDDLEWARES[3]", "MIDDLEWARES[0]")],
        [("MIDDLEWARES[3]", "MIDDLEWARES[2]")],
    ]


def test_app_use_layer_cannot_move_above_middlewares() -> None:
    app = make_app(SECRET_KEY=LONG_KEY, MIDDLEWARES=[with_role("auth")])
    app.use(with_role("cors"))
    [warning] = check_app(app)
    assert "comes after MIDDLEWARES[0]" in warning.message
    assert warning.message.endswith(
        "app.use[0] can never run before a MIDDLEWARES entry: list "
        f"{__name__}.Role_cors in MIDDLEWARES above MIDDLEWARES[0] instead."
    )


class DoesNothing(BaseMiddleware):
    def __init__(self, config: Any) -> None:
        self.config = config


class SetUpOnly(BaseMiddleware):
    def __init__(self) -> None:
        raise MiddlewareNotUsed("registered a signal handler")


def test_middleware_without_hooks_is_reported() -> None:
    [warning] = warnings_for(with_role(None), DoesNothing)
    assert warning.id == "lback.W002"
    assert warning.message.startswith(
        f"MIDDLEWARES[1] ('{__name__}.DoesNothing') overrides none of process_request, "
        "process_view, process_response, process_exception, so it does nothing per request."
    )
    assert "raise MiddlewareNotUsed" in warning.message


def test_middleware_that_leaves_the_chain_is_not_reported() -> None:
    assert warnings_for(SetUpOnly) == []


def test_debug_is_reported() -> None:
    [warning] = warnings_for(DEBUG=True)
    assert warning.id == "lback.W003"
    assert "LBACK_DEBUG=false" in warning.message


@pytest.mark.parametrize(
    ("key", "debug", "warning"),
    [
        pytest.param("k" * 31, False, "only 31 characters long", id="31 characters"),
        pytest.param("k", False, "only 1 character long", id="1 character"),
        pytest.param("k" * 32, False, None, id="32 characters"),
        pytest.param("short", True, None, id="short key with DEBUG on"),
    ],
)
def test_short_secret_key(key: str, debug: bool, warning: str | None) -> None:
    app: App = make_app(SECRET_KEY=key, DEBUG=debug)
    found = [warning for warning in check_app(app) if warning.id == "lback.W004"]
    assert bool(found) is (warning is not None)
    if warning is not None:
        assert warning in found[0].message
        assert "k" * len(key) + " " not in found[0].message


def test_docs_list_every_ordering_rule() -> None:
    from pathlib import Path

    table = (Path(__file__).resolve().parent.parent / "docs" / "cli.md").read_text()
    for rule in ORDERING_RULES:
        assert f"| `{rule.outer}` | `{rule.inner}` |" in table, rule


def test_a_route_without_csrf_for_post_is_reported_and_a_safe_one_is_not() -> None:
    app = make_app(MIDDLEWARES=["lback_mw.middlewares.CSRFMiddleware"])
    csrf = "lback_mw.middlewares.CSRFMiddleware"
    app.route("/hook", methods=["POST"], endpoint="hook", exclude_middleware=[csrf])(
        lambda request: "ok"
    )
    app.route("/feed", endpoint="feed", exclude_middleware=[csrf])(lambda request: "feed")
    [warning] = [w for w in check_app(app) if w.id == "lback.W202"]
    assert warning.message.startswith(
        "route '/hook'.exclude_middleware[0] switches CSRF protection "
        "(lback_mw.middlewares.CSRFMiddleware) off for '/hook', which accepts POST."
    )


def test_only_a_paths_pattern_no_route_can_match_is_reported() -> None:
    app = make_app(
        MIDDLEWARES=[
            {
                "class": "tests.sample_middlewares.HeaderMiddleware",
                "params": {"header": "X"},
                "paths": ["/api/*", "/users/<int:id>", "/typo/*"],
            }
        ]
    )
    app.route("/api/notes", endpoint="notes")(lambda request: "notes")
    app.route("/users/<int:id>", endpoint="user")(lambda request, id: "user")
    found = [w.message for w in check_app(app) if w.id == "lback.W201"]
    assert len(found) == 1
    assert "paths pattern '/typo/*' matches no route" in found[0]
    # A rule that could match /typo/3 leaves the pattern possibly right: no warning.
    app.route("/<name>/<int:id>", endpoint="any")(lambda request, name, id: "any")
    assert [w for w in check_app(app) if w.id == "lback.W201"] == []

"""The one path-pattern syntax: what each pattern matches, what it refuses, what it decides."""

from __future__ import annotations

import pytest
from werkzeug.routing import Map, Rule

from lback_mw import ImproperlyConfigured
from lback_mw.paths import PathPattern, PathScope, PathSet, compile_paths


@pytest.mark.parametrize(
    ("pattern", "matching", "not_matching"),
    [
        pytest.param(
            "/health",
            ["/health"],
            ["/health/", "/healthz", "/health\n", "/x/health", "/"],
            id="exact",
        ),
        pytest.param(
            "/api/*",
            ["/api", "/api/", "/api/notes", "/api/notes/7"],
            ["/apix", "/ap", "/", "/v1/api/notes", "/api\n"],
            id="prefix",
        ),
        pytest.param("/*", ["/", "/anything/at/all"], [""], id="everything"),
        pytest.param(
            "/users/<int:id>",
            ["/users/7", "/users/123"],
            ["/users/x", "/users/7/", "/users/", "/users/7/edit"],
            id="werkzeug rule",
        ),
        pytest.param(
            "/files/<path:rest>",
            ["/files/a", "/files/a/b.txt"],
            ["/files", "/filesx/a"],
            id="werkzeug path converter",
        ),
    ],
)
def test_pattern_matches(pattern: str, matching: list[str], not_matching: list[str]) -> None:
    compiled = PathPattern.parse(pattern, "test")
    paths = PathSet([compiled])
    for path in matching:
        assert compiled.matches(path), path
        assert path in paths, path
    for path in not_matching:
        assert not compiled.matches(path), path
        assert path not in paths, path


def test_a_set_matches_any_of_its_patterns() -> None:
    paths = compile_paths(["/health", "/static/*", "/u/<int:id>"], "paths")
    assert [p in paths for p in ("/health", "/static/app.css", "/u/3", "/u/x", "/metrics")] == [
        True,
        True,
        True,
        False,
        False,
    ]
    assert paths.first_match("/static") is paths.patterns[1]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        pytest.param(
            "health", "'health' is not a path pattern; write a path starting", id="relative"
        ),
        pytest.param(7, "7 is not a path pattern", id="not a string"),
        pytest.param("/api*", "Did you mean '/api/*'?", id="star without slash"),
        pytest.param("/api/*/edit", "has a '*' that is not a trailing '/*'", id="inner star"),
        pytest.param("/a?b=1", "a path pattern matches the path only. Write '/a'", id="query"),
        pytest.param("/u/<itn:id>", "Did you mean 'int'?", id="converter typo"),
        pytest.param("/u/<int:id", "is not a valid werkzeug rule", id="broken rule"),
    ],
)
def test_bad_patterns_are_refused_with_the_fix(value: object, message: str) -> None:
    with pytest.raises(ImproperlyConfigured) as info:
        compile_paths([value], "MIDDLEWARES[0] ('x.Y'): paths")
    assert str(info.value).startswith("MIDDLEWARES[0] ('x.Y'): paths[0]: ")
    assert message in str(info.value)


def test_a_bare_string_is_refused_as_a_list() -> None:
    with pytest.raises(
        ImproperlyConfigured, match=r"must be a list of path patterns, like \['/api/\*'\]"
    ):
        compile_paths("/api/*", "paths")


def _rule(text: str) -> Rule:
    rule = Rule(text, endpoint="e")
    Map([rule])  # binds the rule, so .arguments is known
    return rule


@pytest.mark.parametrize(
    ("pattern", "rule", "decided"),
    [
        pytest.param("/api/*", "/api/notes", True, id="static rule under a prefix"),
        pytest.param("/api/*", "/apix", False, id="static rule beside a prefix"),
        pytest.param("/api/*", "/api/notes/<int:id>", True, id="dynamic rule under a prefix"),
        pytest.param("/api/*", "/users/<int:id>", False, id="dynamic rule elsewhere"),
        pytest.param("/api/*", "/<name>", None, id="a converter could be /api"),
        pytest.param("/api/*", "/ap<x>", None, id="a converter could complete the prefix"),
        pytest.param("/api/*", "/apix/<int:id>", False, id="a sibling that only shares letters"),
        pytest.param("/users/7", "/users/<int:id>", None, id="exact path inside a rule"),
        pytest.param("/health", "/users/<int:id>", False, id="exact path outside a rule"),
        pytest.param("/users/<int:id>", "/users/<int:id>", True, id="the same rule"),
        pytest.param("/users/<int:id>", "/notes/<int:id>", False, id="another rule"),
        pytest.param("/users/<int:id>", "/users/<name>", None, id="an overlapping rule"),
    ],
)
def test_decided_once_per_rule_where_the_rule_allows(
    pattern: str, rule: str, decided: bool | None
) -> None:
    assert PathPattern.parse(pattern, "test").decide(_rule(rule)) is decided


def test_a_scope_combines_paths_and_exclude_paths() -> None:
    scope = PathScope(compile_paths(["/api/*"], "paths"), compile_paths(["/api/health"], "x"))
    assert ["/api/notes" in scope, "/api/health" in scope, "/login" in scope] == [
        True,
        False,
        False,
    ]
    assert scope.decide(_rule("/api/notes/<int:id>")) is True  # never /api/health
    assert scope.decide(_rule("/api/<name>")) is None  # /api/health, or not
    assert scope.decide(_rule("/api/health")) is False
    assert scope.decide(_rule("/login")) is False
    assert scope.reason("/api/health") == "exclude_paths pattern '/api/health' matches"
    assert scope.reason("/login") == "paths ['/api/*'] do not match '/login'"

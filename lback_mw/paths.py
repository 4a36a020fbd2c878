"""Path patterns: the one syntax of every option that names request paths.

* ``/health`` matches that path only: not ``/health/``, ``/healthz`` or ``/health\\n``.
* ``/api/*`` matches ``/api`` and every path under ``/api/``, never ``/apix``;
  ``/*`` matches every path.
* ``/users/<int:id>`` (a werkzeug rule, with its converters) matches the paths
  that route would match.

A pattern is compared with the path as the client sent it (``request.path``,
percent-decoded by werkzeug): exact paths with ``==`` and prefixes with
``str.startswith``, never with a regular expression, whose ``$`` would let
``/admin\\n`` through. Everything is compiled and validated at start-up.

Against a route, a pattern can often be decided once (:meth:`PathPattern.decide`):
``/api/*`` covers every path of ``/api/notes/<int:id>`` and none of
``/users/<int:id>``. The pipeline compiles a chain per route from those answers and
matches per request only what the rule leaves open.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, MapAdapter, Rule

from .exceptions import ImproperlyConfigured, did_you_mean

Kind = Literal["exact", "prefix", "rule"]

_EXAMPLES = "like '/health', '/api/*' or '/users/<int:id>'"


@dataclass(frozen=True, eq=False)
class PathPattern:
    """One compiled pattern; build it with :meth:`parse`."""

    #: The pattern as written.
    text: str
    kind: Kind
    #: ``exact``: the path; ``prefix``: the path before ``/*``; ``rule``: the
    #: rule's text before its first converter.
    base: str
    _adapter: MapAdapter | None = None

    @classmethod
    def parse(cls, text: Any, where: str) -> PathPattern:
        """Validate ``text``; ``where`` names the option (``MIDDLEWARES[2] ('x'): paths[0]``)."""
        if not isinstance(text, str) or not text.startswith("/"):
            raise ImproperlyConfigured(
                f"{where}: {text!r} is not a path pattern; write a path starting with '/', "
                f"{_EXAMPLES}."
            )
        if "?" in text or "#" in text:
            raise ImproperlyConfigured(
                f"{where}: {text!r} has a query string or fragment; a path pattern matches "
                f"the path only. Write {text.split('?')[0].split('#')[0]!r}."
            )
        if "<" in text or ">" in text:
            return cls(text, "rule", text.split("<", 1)[0], _compile_rule(text, where))
        if "*" in text:
            if text == "/*" or (text.endswith("/*") and "*" not in text[:-1]):
                return cls(text, "prefix", text[:-2])
            fixed = text.replace("*", "").rstrip("/") + "/*"
            raise ImproperlyConfigured(
                f"{where}: {text!r} has a '*' that is not a trailing '/*'. '/*' ends a "
                f"pattern for a path and everything under it. Did you mean {fixed!r}?"
            )
        return cls(text, "exact", text)

    def matches(self, path: str) -> bool:
        """Whether the request path ``path`` is one this pattern names."""
        if self.kind == "exact":
            return path == self.base
        if self.kind == "prefix":
            return path.startswith(self.base + "/") or (path == self.base and bool(path))
        assert self._adapter is not None  # a rule pattern always has one
        try:
            self._adapter.match(path, "GET")
        except HTTPException:  # NotFound, or a redirect to another path
            return False
        return True

    def decide(self, rule: Rule) -> bool | None:
        """``True`` if every path ``rule`` matches is matched by this pattern, ``False``
        if none is, ``None`` if that depends on the path (then match per request)."""
        if not rule.arguments:
            return self.matches(rule.rule)
        if self.kind == "rule" and self.text == rule.rule:
            return True
        fixed = rule.rule.split("<", 1)[0]  # every path of the rule starts with it
        if self.kind == "prefix" and fixed.startswith(self.base + "/"):
            return True
        own = self.base + "/" if self.kind == "prefix" else self.base
        if not (fixed.startswith(own) or own.startswith(fixed)):
            return False  # they part before either ends: no path can be both
        return None


class PathSet:
    """Several patterns matched as one: a set lookup, one ``str.startswith`` over a
    tuple (both in C), then any werkzeug-rule patterns."""

    __slots__ = ("_exact", "_prefixes", "_rules", "patterns")

    def __init__(self, patterns: Iterable[PathPattern]) -> None:
        self.patterns = tuple(patterns)
        self._exact = frozenset(
            p.base for p in self.patterns if p.kind in ("exact", "prefix") and p.base
        )
        self._prefixes = tuple(p.base + "/" for p in self.patterns if p.kind == "prefix")
        self._rules = tuple(p for p in self.patterns if p.kind == "rule")

    def __contains__(self, path: str) -> bool:
        return (
            path in self._exact
            or (bool(self._prefixes) and path.startswith(self._prefixes))
            or any(pattern.matches(path) for pattern in self._rules)
        )

    def __bool__(self) -> bool:
        return bool(self.patterns)

    def first_match(self, path: str) -> PathPattern | None:
        """The first pattern matching ``path``, to say why (``lback-mw middleware``)."""
        return next((p for p in self.patterns if p.matches(path)), None)

    def decide(self, rule: Rule) -> bool | None:
        """As :meth:`PathPattern.decide`, for "any of these patterns"."""
        answers = [pattern.decide(rule) for pattern in self.patterns]
        if True in answers:
            return True
        return None if None in answers else False

    def texts(self) -> list[str]:
        return [p.text for p in self.patterns]


def compile_paths(values: Any, where: str) -> PathSet:
    """A :class:`PathSet` from a list of pattern strings; ``where`` names the option."""
    if isinstance(values, str) or not isinstance(values, Sequence):
        shown = f"[{values!r}]" if isinstance(values, str) else "['/health', '/api/*']"
        raise ImproperlyConfigured(
            f"{where} must be a list of path patterns, like {shown}; got "
            f"{type(values).__name__} {values!r}."
        )
    return PathSet(PathPattern.parse(value, f"{where}[{i}]") for i, value in enumerate(values))


def compile_option_paths(values: Any, where: str, *, bare_was_prefix: bool = False) -> PathSet:
    """``compile_paths`` for a built-in's option that took other spellings before
    0.1.0, refusing each with the pattern to write instead.

    Refused, since reading them as patterns would change what they match: ``^``
    regular expressions, a trailing ``/`` (it meant "everything under it": write
    ``/x/*``) and ``fnmatch`` globs. With ``bare_was_prefix`` (options where
    ``/admin`` meant ``/admin`` and what is under it, and matching less would
    unguard paths) a bare path keeps that meaning for this release, with a
    DeprecationWarning that says to write ``/admin/*``.
    """
    if isinstance(values, str) or not isinstance(values, Sequence):
        return compile_paths(values, where)  # its error says what a list looks like
    patterns = []
    for index, text in enumerate(values):
        entry = f"{where}[{index}]"
        if isinstance(text, str):
            _refuse_old_spelling(text, entry)
        pattern = PathPattern.parse(text, entry)
        if bare_was_prefix and pattern.kind == "exact" and pattern.base != "/":
            warnings.warn(
                f"{entry}: {text!r} is read as {text + '/*'!r} ({text} and everything "
                f"under it) for this release only; write {text + '/*'!r} to keep that "
                f"meaning. From 0.2.0 a bare path matches that path only.",
                DeprecationWarning,
                stacklevel=2,
            )
            pattern = PathPattern.parse(text + "/*", entry)
        patterns.append(pattern)
    return PathSet(patterns)


def _refuse_old_spelling(text: str, where: str) -> None:
    if text.startswith("^"):
        option = where.rsplit(": ", 1)[-1].split("[", 1)[0]  # "exempt_paths"
        raise ImproperlyConfigured(
            f"{where}: {text!r} is a regular expression; {option} takes path patterns "
            f"now, {_EXAMPLES}. See docs/middleware.md, 'Path patterns'."
        )
    if len(text) > 1 and text.endswith("/"):
        raise ImproperlyConfigured(
            f"{where}: {text!r} ends with '/', which used to mean everything under it. "
            f"Write {text + '*'!r} (that path and everything under it)."
        )
    glob = next((i for i, char in enumerate(text) if char in "?[*"), None)
    if glob is not None and text[glob:] != "*" and "<" not in text:
        prefix = text[:glob].rsplit("/", 1)[0] or ""
        raise ImproperlyConfigured(
            f"{where}: {text!r} is an fnmatch glob; path patterns have none. Write a "
            f"prefix, {prefix + '/*'!r}, or a werkzeug rule such as "
            f"{text[:glob] + '<name>' + text[glob + 1 :].replace('*', '')!r}."
        )


@dataclass(frozen=True)
class PathScope:
    """Where a layer runs: in ``paths`` (every path when ``None``) and not in ``exclude``."""

    paths: PathSet | None = None
    exclude: PathSet | None = None

    def __contains__(self, path: str) -> bool:
        return (self.paths is None or path in self.paths) and (
            self.exclude is None or path not in self.exclude
        )

    def decide(self, rule: Rule) -> bool | None:
        """Whether the layer runs for every path of ``rule``, none, or it depends (``None``)."""
        inside = True if self.paths is None else self.paths.decide(rule)
        excluded = False if self.exclude is None else self.exclude.decide(rule)
        if inside is False or excluded is True:
            return False
        if inside is True and excluded is False:
            return True
        return None

    def reason(self, path: str) -> str:
        """Why the layer runs or not for ``path``, in the words of its settings."""
        if self.paths is not None:
            pattern = self.paths.first_match(path)
            if pattern is None:
                return f"paths {self.paths.texts()} do not match {path!r}"
            if self.exclude is None:
                return f"paths pattern {pattern.text!r} matches"
        excluded = self.exclude.first_match(path) if self.exclude is not None else None
        if excluded is not None:
            return f"exclude_paths pattern {excluded.text!r} matches"
        return "not in exclude_paths" if self.paths is None else "paths match, not excluded"


def _compile_rule(text: str, where: str) -> MapAdapter:
    url_map = Map(merge_slashes=False, redirect_defaults=False)
    try:
        url_map.add(Rule(text, endpoint="pattern"))
    except LookupError as exc:  # werkzeug names the unknown converter
        name = str(exc).split("'")[1] if "'" in str(exc) else ""
        raise ImproperlyConfigured(
            f"{where}: {text!r} uses a converter werkzeug does not have: {exc}."
            f"{did_you_mean(name, url_map.converters)} Converters: "
            f"{', '.join(sorted(url_map.converters))}."
        ) from exc
    except (ValueError, TypeError) as exc:
        raise ImproperlyConfigured(
            f"{where}: {text!r} is not a valid werkzeug rule: {exc}. Write a rule "
            "like '/users/<int:id>', or a path or '/prefix/*' without '<' and '>'."
        ) from exc
    return url_map.bind("localhost")


def scope_for(paths: Any, exclude_paths: Any, where: str) -> PathScope | None:
    """The :class:`PathScope` of a ``MIDDLEWARES`` entry's ``paths``/``exclude_paths``,
    ``None`` for a layer that runs everywhere."""
    included = None if paths is None else compile_paths(paths, f"{where}: paths")
    excluded = (
        None if exclude_paths is None else compile_paths(exclude_paths, f"{where}: exclude_paths")
    )
    if included is not None and not included:
        raise ImproperlyConfigured(
            f"{where}: 'paths' is empty, so the middleware would never run. Remove the "
            "entry, or list the paths it is for."
        )
    if included is None and not excluded:
        return None
    return PathScope(included, excluded or None)

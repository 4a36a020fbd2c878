"""A matcher for converter rules, keyed by the path's first segment, in front of werkzeug's.

werkzeug's state-machine matcher costs ~3.5 us for ``/users/<int:id>``, whatever
the map holds. Here the rules are grouped by their first segment, which is static
in almost every rule, and a request is matched against the few rules of its
group, each compiled into one pattern over the whole path from werkzeug's own
part patterns. The values are the pattern's groups, passed through each
converter's ``to_python``, or through ``int`` or nothing where that is all
werkzeug's default converter does.

It answers only when the answer cannot differ from werkzeug's: exactly one rule
matches the path, none matches it with a slash added (werkzeug's strict-slashes
redirect, which it prefers even to an exact match), the converters accept the values, and that rule
takes the method. Everything else (no match, two matches, a 405, ``//``, a value
a converter refuses) goes to werkzeug. So do whole groups holding a rule this
matcher does not model: a ``path`` or project converter, two converters or a
converter and text in one segment, an ``any`` item holding a ``/``,
``defaults``, ``redirect_to``, ``alias``, host, subdomain, websocket and
build-only rules, ``merge_slashes=False``, and every rule of an endpoint that
werkzeug may redirect to or from (:meth:`forget`). A converter in the first
segment sends every path to werkzeug. tests/test_segment_matcher.py compares
both matchers on the routing table and generated tables.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from werkzeug.routing import Map, Rule
from werkzeug.routing.converters import (
    AnyConverter,
    BaseConverter,
    FloatConverter,
    IntegerConverter,
    UnicodeConverter,
    UUIDConverter,
    ValidationError,
)

#: werkzeug's own converters, whose ``to_python`` has no side effect.
_PURE_CONVERTERS = (AnyConverter, FloatConverter, IntegerConverter, UnicodeConverter, UUIDConverter)

#: The URL values of a match: the pattern's groups, each through its converter.
ValuesOf = Callable[["re.Match[str]"], dict[str, Any]]
#: One rule of a group: the rule, its whole path as one pattern with a group per
#: variable, how to get the values from a match, and the methods the rule takes.
Entry = tuple[Rule, Callable[[str], "re.Match[str] | None"], ValuesOf, frozenset[str]]

#: How werkzeug writes a converter's part: its one group, named, anchored with ``\Z``.
_WERKZEUG_PART = re.compile(r"\(\?P<__werkzeug_\d+>(.*)\)\\Z", re.DOTALL)

#: A group whose rules this matcher cannot stand in for.
_UNMODELLED = None


class SegmentMatcher:
    """Rules by first segment; :meth:`match` returns ``(rule, values)`` or ``None``."""

    def __init__(self) -> None:
        self._groups: dict[str, list[Entry] | None] = {}
        #: The groups of one rule (most of them), looked up first.
        self._single: dict[str, Entry] = {}
        #: False once a rule could match any first segment: werkzeug for everything.
        self.enabled = True

    def add(self, rule: Rule, url_map: Map, *, modelled: bool = True) -> None:
        """Index ``rule`` (after werkzeug compiled it); ``modelled=False`` leaves its
        group to werkzeug."""
        # mutation: equivalent "1 -> 2 at col 49" - the first part is the same either way
        first = rule.rule.lstrip("/").split("/", 1)[0]
        entry = (
            _entry(rule) if modelled and not url_map.host_matching and "<" not in first else None
        )
        if entry is None:
            if "<" in first:
                self.enabled = False
            self._groups[first] = _UNMODELLED
            self._index_single(first)
            return
        group = self._groups.setdefault(first, [])
        if group is not _UNMODELLED:
            group.append(entry)
        # mutation: equivalent "call deleted" - every group takes the loop, same answers
        self._index_single(first)

    def forget(self, endpoint: str) -> None:
        """Leave to werkzeug every group holding a rule of ``endpoint``: a rule with
        ``defaults`` or an ``alias`` was added to it, and werkzeug redirects between
        an endpoint's rules (``Map.redirect_defaults``)."""
        for first, group in self._groups.items():
            if group is not _UNMODELLED and any(entry[0].endpoint == endpoint for entry in group):
                self._groups[first] = _UNMODELLED
                self._index_single(first)

    def _index_single(self, first: str) -> None:
        """Keep :attr:`_single` in step with the group of ``first``."""
        group = self._groups[first]
        # mutation: equivalent "1 -> 0 at col 54" - no group is empty: all take the loop
        if group is not _UNMODELLED and len(group) == 1:
            # mutation: equivalent "0 -> -1 at col 40" - a group of one: the same entry
            self._single[first] = group[0]
        else:
            self._single.pop(first, None)

    def match(self, path: str, method: str) -> tuple[Rule, dict[str, Any]] | None:
        # PERF: /users/<int:id> in 0.55 us against 1.06 us matched segment by
        # segment and werkzeug's 3.5 us (timeit, best of 7, idle machine): one
        # pattern over the whole path, its groupdict() as the values, and int()
        # or nothing in place of to_python for werkzeug's default converters.
        if "//" in path:
            return None  # werkzeug merges slashes with a redirect
        # mutation: equivalent "2 -> 3 at col 32" - the second part is the same either way
        first = path.split("/", 2)[1]
        single = self._single.get(first)
        if single is not None:  # PERF: the usual case, without the loop (~0.1 us)
            rule, fullmatch, values_of, methods = single
            matched = fullmatch(path)
            if matched is None or method not in methods:
                return None
            try:
                return rule, values_of(matched)
            except ValidationError:
                return None  # werkzeug answers 404 for this rule
        group = self._groups.get(first)
        if not group:
            return None
        found: tuple[Rule, dict[str, Any], frozenset[str]] | None = None
        for rule, fullmatch, values_of, methods in group:
            matched = fullmatch(path)
            if matched is not None:
                if found is not None:
                    return None  # werkzeug weighs the two
                try:
                    found = rule, values_of(matched), methods
                except ValidationError:
                    return None  # werkzeug answers 404 for this rule
            elif not path.endswith("/") and fullmatch(path + "/") is not None:
                # werkzeug may redirect to the spelling with a slash, even when another
                # rule matches this one exactly (/x/<int:n>/ over /x/<code> for /x/12);
                # it never redirects to take a slash away.
                return None
        if found is None or method not in found[2]:
            return None
        return found[0], found[1]


def _entry(rule: Rule) -> Entry | None:
    """The rule as one pattern, or ``None`` if this matcher does not model it."""
    if rule.defaults or rule.redirect_to or rule.alias or rule.host or rule.subdomain:
        return None
    if rule.websocket:
        return None
    if rule.build_only or not rule.merge_slashes:
        return None
    names = iter(rule._converters)
    pieces: list[str] = []
    variables: list[tuple[str, Callable[[str], Any] | None]] = []
    for part in rule._parts[2:]:  # the domain part, then the empty one before the first /
        if part.static:
            pieces.append(re.escape(part.content))
            continue
        pattern = _WERKZEUG_PART.fullmatch(part.content)
        if part.final or part.suffixed or pattern is None or re.compile(part.content).groups != 1:
            return None
        name = next(names)
        converter = rule._converters[name]
        if type(converter) not in _PURE_CONVERTERS:
            return None
        if isinstance(converter, AnyConverter) and any("/" in item for item in converter.items):
            return None  # werkzeug matches it within one segment, so never
        # The group takes the variable's name (an identifier, as werkzeug requires).
        pieces.append(f"(?P<{name}>{pattern[1]})")
        variables.append((name, _convert(converter)))
    fullmatch = re.compile("/" + "/".join(pieces)).fullmatch
    return rule, fullmatch, _values_of(variables), frozenset(rule.methods or ())


def _values_of(variables: list[tuple[str, Callable[[str], Any] | None]]) -> ValuesOf:
    # PERF: made once per rule; a rule with one variable (the usual
    # /users/<int:id>) builds its dictionary in one step (~0.1 us a match less).
    if len(variables) == 1:
        [(name, convert)] = variables
        if convert is None:
            return lambda matched: {name: matched[1]}
        return lambda matched: {name: convert(matched[1])}
    converted = [(name, convert) for name, convert in variables if convert is not None]

    def values_of(matched: re.Match[str]) -> dict[str, Any]:
        values = matched.groupdict()
        for name, convert in converted:
            values[name] = convert(values[name])
        return values

    return values_of


def _convert(converter: Any) -> Callable[[str], Any] | None:
    """``to_python``, or what it reduces to for werkzeug's default converters."""
    if type(converter).to_python is BaseConverter.to_python:
        return None  # it returns the text (string and any)
    if (
        type(converter) is IntegerConverter
        and not converter.fixed_digits
        and converter.min is None
        and converter.max is None
    ):
        return int  # NumberConverter.to_python with no bounds: num_convert(text)
    to_python: Callable[[str], Any] = converter.to_python
    return to_python

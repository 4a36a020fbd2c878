"""JSON with tags for the values JSON cannot hold, for sessions (Flask's scheme).

A tuple, ``bytes``, ``datetime``, ``UUID`` or ``Markup`` is written as a one-key
object whose key is a tag (``{" t": [1, 2]}``), and read back as what it was; a
dict whose only key happens to be a tag is escaped (``" di"``). Nothing is ever
pickled, so a leaked ``SECRET_KEY`` lets nobody run code. Plain JSON written
before tags existed reads back unchanged.
"""

from __future__ import annotations

import base64
import datetime
import json
import uuid
from collections.abc import Callable
from typing import Any

from markupsafe import Markup

#: What a session stores, for the error about anything else.
STORABLE = (
    "str, int, float, bool, None, list, tuple, dict, bytes, datetime.datetime, uuid.UUID "
    "and markupsafe.Markup"
)

_DICT = " di"
_UNTAG: dict[str, Callable[[Any], Any]] = {
    " t": tuple,
    " b": base64.b64decode,
    " d": datetime.datetime.fromisoformat,
    " u": uuid.UUID,
    " m": Markup,
    _DICT: lambda value: {key[:-2]: item for key, item in value.items()},
}


def tag(value: Any) -> Any:
    """``value`` made of JSON types only; a ``TypeError`` names what cannot be stored."""
    if hasattr(value, "__html__"):  # Markup, or anything that renders as HTML
        return {" m": str(value.__html__())}
    if value is None or isinstance(value, str | int | float):
        return value
    if isinstance(value, dict):
        return _tag_dict(value)
    if isinstance(value, list):
        return [tag(item) for item in value]
    if isinstance(value, tuple):
        return {" t": [tag(item) for item in value]}
    if isinstance(value, bytes):
        return {" b": base64.b64encode(value).decode("ascii")}
    if isinstance(value, datetime.datetime):
        return {" d": value.isoformat()}  # exact: microseconds and time zone kept
    if isinstance(value, uuid.UUID):
        return {" u": value.hex}
    raise TypeError(f"{type(value).__name__} {value!r:.60} cannot be stored; store {STORABLE}")


def _tag_dict(value: dict[Any, Any]) -> dict[Any, Any]:
    if len(value) == 1:
        key = next(iter(value))
        if key in _UNTAG:  # a dict that would read back as a tag is wrapped in one
            return {_DICT: {f"{key}__": tag(value[key])}}
    for key in value:
        if not (key is None or isinstance(key, str | int | float)):
            raise TypeError(
                f"a dict key of type {type(key).__name__} cannot be stored; keys are str"
            )
    return {key: tag(item) for key, item in value.items()}


def dumps(value: Any) -> str:
    return _ENCODER.encode(tag(value))


def loads(text: str | bytes) -> Any:
    if type(text) is str:
        return _DECODER.decode(text)  # what json.loads(text, object_hook=_untag) does
    return json.loads(text, object_hook=_untag)


def copier(data: dict[str, Any]) -> Callable[[], dict[str, Any]]:
    """A function that returns a new copy of ``data`` on every call, one that shares
    nothing a caller could change in place with ``data`` or with another copy.

    PERF: a dict of values that cannot change in place (the usual session: an id, a
    count, the CSRF secret) is copied by ``dict.copy``, ~0.1 us; anything else (a list,
    a nested dict, a tuple that may hold one) is read back from its JSON each time,
    ~2 us with the tag hook.
    """
    if all(type(value) in _IMMUTABLE for value in data.values()):
        return dict(data).copy
    text = dumps(data)
    return lambda: loads(text)


#: The types a session value reads back as that nothing can change in place.
_IMMUTABLE = frozenset(
    {str, int, float, bool, type(None), bytes, datetime.datetime, uuid.UUID, Markup}
)


def _untag(obj: dict[str, Any]) -> Any:
    if len(obj) == 1:
        key, value = next(iter(obj.items()))
        untag = _UNTAG.get(key)
        if untag is not None:
            return untag(value)
    return obj


# PERF: one encoder and one decoder for every call: json.dumps and json.loads with an
# option build one per call (~1 us); neither keeps state between calls.
_ENCODER = json.JSONEncoder(separators=(",", ":"))
_DECODER = json.JSONDecoder(object_hook=_untag)

"""Factories named in DEPENDENCIES by the injection tests."""

from __future__ import annotations

from typing import Any

from lback_mw import Settings

calls: list[str] = []


def make_greeter(config: Settings) -> Any:
    calls.append("make_greeter")
    prefix = getattr(config, "GREETING", "hello")
    return lambda name: f"{prefix} {name}"


GREETING_TABLE = {"en": "hello"}


class Clock:
    """A class named in DEPENDENCIES is a factory too: built once, with injection."""

    def __init__(self, config: Settings) -> None:
        self.debug = config.DEBUG


def load_user(user_id: str) -> Any:
    """A user_loader function, wrongly named in DEPENDENCIES as if it were a factory."""
    return None

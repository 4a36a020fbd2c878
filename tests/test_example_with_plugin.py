"""The example project tested as a project would test itself: with the pytest
plugin's fixtures (``lback_client``, ``settings_override``, the marker), and a
fresh SQLite database per test instead of a fixture of its own."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager

import pytest

from lback_mw import App
from lback_mw.testing import Client

from .test_example_project import DEMO_USER, sign_in, sign_up


@pytest.fixture
def lback_settings_source() -> str:
    """What ``--lback-settings example_project.settings`` would give."""
    return "example_project.settings"


@pytest.mark.parametrize("attempt", [1, 2])
def test_sign_up_in_a_fresh_database(lback_client: Client, attempt: int) -> None:
    # Both attempts succeed: the account of the first went with its database.
    response = sign_up(lback_client, "alice")
    assert response.status_code == 303, response.text
    assert lback_client.get("/notes").status_code == 200


def test_demo_user_signs_in(lback_client: Client) -> None:
    assert sign_in(lback_client).status_code == 303
    assert DEMO_USER in lback_client.get("/").text


def test_without_debug_there_is_no_demo_user(
    settings_override: Callable[..., AbstractContextManager[App]],
) -> None:
    with settings_override(DEBUG=False) as app:
        refused = sign_in(app.test_client())
    assert refused.status_code == 200
    assert "Wrong username or password." in refused.text


@pytest.mark.lback_settings(APP_CUSTOM_HEADER="set by the marker")
def test_marker_changes_a_project_setting(lback_client: Client) -> None:
    assert lback_client.get("/").headers["X-App-Name"] == "set by the marker"

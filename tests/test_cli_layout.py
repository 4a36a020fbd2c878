"""``lback-mw`` tables fit the terminal: ``COLUMNS``, else 80 columns."""

from __future__ import annotations

import re

import pytest
from click.testing import CliRunner

from lback_mw.cli import cli


def middleware_output(monkeypatch: pytest.MonkeyPatch, columns: str | None) -> str:
    if columns is None:
        monkeypatch.delenv("COLUMNS", raising=False)
    else:
        monkeypatch.setenv("COLUMNS", columns)
    result = CliRunner().invoke(cli, ["middleware", "--settings", "example_project.settings"])
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.mark.parametrize(
    ("columns", "width"),
    [
        pytest.param(None, 80, id="no terminal: 80"),
        pytest.param("80", 80, id="COLUMNS=80"),
        pytest.param("60", 60, id="COLUMNS=60"),
        pytest.param("120", 120, id="COLUMNS=120"),
    ],
)
def test_middleware_fits_the_width(
    monkeypatch: pytest.MonkeyPatch, columns: str | None, width: int
) -> None:
    out = middleware_output(monkeypatch, columns)
    assert max(len(line) for line in out.splitlines()) <= width
    # Every layer is still there, with its hooks and both turns.
    assert len(re.findall(r"^\d+  MIDDLEWARES\[\d+\]", out, re.MULTILINE)) == 15
    words = " ".join(out.split())  # as read, whatever the wrapping
    assert "hooks: process_request, process_response, process_exception request: 8" in words
    assert "response: 12" in words


def test_middleware_long_params_wrap_under_their_column(monkeypatch: pytest.MonkeyPatch) -> None:
    out = middleware_output(monkeypatch, "80")
    block = out.split("5  MIDDLEWARES[5]")[1].split("\n\n")[0]
    assert block.splitlines()[1:3] == [
        "  params:   content_security_policy=\"default-src 'self'; object-src 'none...,",
        "            permissions_policy='camera=(), microphone=(), geolocatio...",
    ]


def test_a_wide_terminal_gets_the_table(monkeypatch: pytest.MonkeyPatch) -> None:
    out = middleware_output(monkeypatch, "400")
    assert re.search(
        r"^#\s+label\s+class\s+params\s+injected\s+hooks\s+request\s+response$", out, re.M
    )

"""TemplateRenderer on its own: escaping, globals, and the errors that name the culprit."""

from __future__ import annotations

from pathlib import Path

import jinja2
import pytest

from lback_mw.exceptions import ImproperlyConfigured
from lback_mw.templating import TemplateRenderer


@pytest.fixture
def renderer(tmp_path: Path) -> TemplateRenderer:
    (tmp_path / "hello.html").write_text("<p>{{ name }} {{ helper() }}</p>", encoding="utf-8")
    return TemplateRenderer([tmp_path])


def test_html_is_escaped(renderer: TemplateRenderer) -> None:
    renderer.globals["helper"] = lambda: "ok"
    assert renderer.render("hello.html", name="<b>&") == "<p>&lt;b&gt;&amp; ok</p>"


def test_render_response_is_html_with_the_status(renderer: TemplateRenderer) -> None:
    renderer.globals["helper"] = lambda: ""
    response = renderer.render_response("hello.html", status=404, name="x")
    assert (response.status_code, response.mimetype) == (404, "text/html")
    assert response.get_data(as_text=True) == "<p>x </p>"


def test_a_missing_directory_is_refused_by_name(tmp_path: Path) -> None:
    with pytest.raises(ImproperlyConfigured) as caught:
        TemplateRenderer([tmp_path, tmp_path / "nope"])
    assert str(caught.value) == (
        f"TEMPLATE_DIRS names directories that do not exist: {tmp_path / 'nope'}. "
        "Relative entries are taken from BASE_DIR."
    )


def test_a_missing_template_says_where_it_looked(
    renderer: TemplateRenderer, tmp_path: Path
) -> None:
    with pytest.raises(jinja2.TemplateNotFound) as caught:
        renderer.render("other.html")
    assert caught.value.message == f"Template 'other.html' not found; searched {tmp_path}."
    with pytest.raises(jinja2.TemplateNotFound, match=r"nothing \(TEMPLATE_DIRS is empty\)"):
        TemplateRenderer([]).render("other.html")


def test_helpers_added_before_and_after_the_first_render_reach_templates(tmp_path: Path) -> None:
    (tmp_path / "two.html").write_text("{{ first() }} {{ second() }}", encoding="utf-8")
    renderer = TemplateRenderer([tmp_path])
    renderer.globals["first"] = lambda: "1"
    renderer.globals["second"] = lambda: "2"
    assert renderer.render("two.html") == "1 2"
    renderer.globals["second"] = lambda: "two"  # a template loaded already sees it
    assert renderer.render("two.html") == "1 two"
    assert renderer.environment.globals is renderer.globals


def test_jinja2s_own_globals_stay_unless_a_helper_takes_the_name(tmp_path: Path) -> None:
    (tmp_path / "loop.html").write_text("{{ range(3) | list }} {{ dict }}", encoding="utf-8")
    renderer = TemplateRenderer([tmp_path])
    renderer.globals["dict"] = "mine"
    assert renderer.render("loop.html") == "[0, 1, 2] mine"

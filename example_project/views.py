"""Views: ``view(request, **url_values)`` returning a response, str, dict or tuple."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.utils import redirect
from werkzeug.wrappers import Response

from lback_mw import JSONResponse, Request
from lback_mw.templating import TemplateRenderer

from .models import Note, open_session


def _renderer(request: Request) -> TemplateRenderer:
    # Views reach the app's dependencies by name, like middleware constructors do.
    renderer: TemplateRenderer = request.app.dependencies["template_renderer"]
    return renderer


def _session(request: Request) -> Session:
    factory: sessionmaker[Session] = request.app.dependencies["db_session"]
    return open_session(factory)


def index(request: Request) -> Response:
    """An HTML page from ``templates/index.html``; ``?name=`` is escaped by Jinja2."""
    name = request.args.get("name", "world")
    return _renderer(request).render_response("index.html", name=name)


def status(request: Request) -> dict[str, Any]:
    """JSON: a dict return value becomes a JSON response."""
    app = request.app
    return {
        "app": getattr(app.settings, "APP_CUSTOM_HEADER", None),
        "debug": app.settings.DEBUG,
        "middlewares": [layer.path for layer in app.configured_middleware],
        "routes": sorted(rule.rule for rule in app.router.rules()),
    }


def notes(request: Request) -> Response:
    """An HTML list of notes from the database, with a form that adds one."""
    with _session(request) as session:
        if request.method == "POST":
            text = request.form.get("text", "").strip()
            if text:
                session.add(Note(text=text[:500]))
                session.commit()
            # Post/Redirect/Get: reloading the page does not post the note again.
            return redirect(request.url_for("notes", _external=True), code=303)
        rows = session.scalars(select(Note).order_by(Note.id)).all()
        return _renderer(request).render_response("notes.html", notes=rows)


def api_notes(request: Request) -> Response:
    """JSON API over the same table: GET lists, POST ``{"text": ...}`` adds."""
    with _session(request) as session:
        if request.method == "POST":
            data = request.get_json(silent=True)
            text = data.get("text") if isinstance(data, dict) else None
            if not isinstance(text, str) or not text.strip():
                return JSONResponse({"error": "send a JSON object with a 'text' string"}, 400)
            note = Note(text=text.strip()[:500])
            session.add(note)
            session.commit()
            return JSONResponse(note.as_dict(), status=201)
        rows = session.scalars(select(Note).order_by(Note.id)).all()
        return JSONResponse({"notes": [row.as_dict() for row in rows]})

"""Views: ``view(request, **url_values)`` returning a response, str, dict or tuple.

The middleware in ``settings.py`` did the plumbing before a view runs:
``request.session`` (SessionMiddleware), ``request.user`` (AuthenticationMiddleware),
``request.db`` (SQLAlchemySessionMiddleware, committed after a response below
400 and rolled back otherwise), and every unsafe request's CSRF token was checked.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from werkzeug.utils import redirect
from werkzeug.wrappers import Response

from lback_mw import JSONResponse, Request
from lback_mw.auth import login, login_required, logout, safe_next_url
from lback_mw.templating import TemplateRenderer

from .accounts import authenticate, sign_up
from .models import Note

MAX_NOTE_LENGTH = 500


def render(request: Request, template: str, /, status: int = 200, **context: Any) -> Response:
    """Render ``templates/<template>`` with what every page uses: the user and STATIC_URL."""
    # Views reach the app's dependencies by name, like middleware constructors do.
    renderer: TemplateRenderer = request.app.dependencies["template_renderer"]
    return renderer.render_response(
        template,
        status=status,
        user=request.user,
        static_url=request.app.settings.STATIC_URL,
        **context,
    )


def index(request: Request) -> Response:
    """The public home page."""
    return render(request, "index.html")


def login_view(request: Request) -> Response:
    """The sign-in form; on success, back to ``?next=`` if it stays on this site."""
    error = None
    if request.method == "POST":
        user = authenticate(
            request.db, request.form.get("username", ""), request.form.get("password", "")
        )
        if user is not None:
            login(request, user)  # a new session id and CSRF secret: no fixation
            return redirect(safe_next_url(request, default=request.url_for("notes")), 303)
        error = "Wrong username or password."
    return render(request, "login.html", error=error, next=request.values.get("next", ""))


def signup(request: Request) -> Response:
    """Create an account and sign it in."""
    error = None
    if request.method == "POST":
        user, error = sign_up(
            request.db, request.form.get("username", ""), request.form.get("password", "")
        )
        if user is not None:
            login(request, user)
            return redirect(request.url_for("notes"), 303)
    return render(request, "signup.html", error=error)


def logout_view(request: Request) -> Response:
    """POST only (with its CSRF token): a link another site embeds cannot sign you out."""
    logout(request)
    return redirect(request.url_for("login"), 303)


@login_required
def notes(request: Request) -> Response:
    """The signed-in user's notes, with a form that adds one."""
    if request.method == "POST":
        text = request.form.get("text", "").strip()
        if text:
            request.db.add(Note(owner_id=request.user.id, text=text[:MAX_NOTE_LENGTH]))
        # Post/Redirect/Get: reloading the page does not post the note again.
        return redirect(request.url_for("notes"), 303)
    return render(request, "notes.html", notes=_notes_of(request))


@login_required
def api_notes(request: Request) -> Response:
    """JSON over the same notes: GET lists them, POST ``{"text": ...}`` adds one.

    A POST needs the CSRF token in an ``X-CSRF-Token`` header; the GET answer
    carries one, for a front-end that is not served by this app.
    """
    if request.method == "POST":
        data = request.get_json(silent=True)
        text = data.get("text") if isinstance(data, dict) else None
        if not isinstance(text, str) or not text.strip():
            return JSONResponse({"error": "send a JSON object with a 'text' string"}, 400)
        note = Note(owner_id=request.user.id, text=text.strip()[:MAX_NOTE_LENGTH])
        request.db.add(note)
        request.db.flush()  # sends the INSERT: note.id and created_at are set
        return JSONResponse(note.as_dict(), status=201)
    return JSONResponse(
        {
            "notes": [note.as_dict() for note in _notes_of(request)],
            "csrf_token": request.csrf_token(),
        }
    )


def health(request: Request) -> dict[str, str]:
    """For load balancers and uptime checks: the app is up and answering."""
    return {"status": "ok"}


def _notes_of(request: Request) -> list[Note]:
    # Every query is filtered by the signed-in user: nobody reads another's notes.
    query = select(Note).where(Note.owner_id == request.user.id).order_by(Note.id)
    return list(request.db.scalars(query))

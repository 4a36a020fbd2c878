"""The URL map, named by ``ROUTES = "example_project.routes"`` in settings."""

from lback_mw import Route

from . import views

routes = [
    Route("/", views.index),
    Route("/login", views.login_view, methods=["GET", "POST"], endpoint="login"),
    Route("/signup", views.signup, methods=["GET", "POST"]),
    Route("/logout", views.logout_view, methods=["POST"], endpoint="logout"),
    Route("/notes", views.notes, methods=["GET", "POST"]),
    Route("/api/notes", views.api_notes, methods=["GET", "POST"]),
]

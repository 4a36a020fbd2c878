"""The URL map, named by ``ROUTES = "example_project.routes"`` in settings."""

from lback_mw import Route

from . import views

routes = [
    Route("/", views.index),
    Route("/api/status", views.status),
    Route("/notes", views.notes, methods=["GET", "POST"]),
    Route("/api/notes", views.api_notes, methods=["GET", "POST"]),
]

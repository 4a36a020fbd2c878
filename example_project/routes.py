"""The URL map, named by ``ROUTES = "example_project.routes"`` in settings."""

from lback_mw import Route

from . import views

routes = [
    Route("/", views.index),
    Route("/login", views.login_view, methods=["GET", "POST"], endpoint="login"),
    Route("/signup", views.signup, methods=["GET", "POST"]),
    Route("/logout", views.logout_view, methods=["POST"], endpoint="logout"),
    Route("/notes", views.notes, methods=["GET", "POST"]),
    # The route's own middleware runs inside the global chain, for this route only:
    # one user's notes must not be kept by a shared cache.
    Route(
        "/api/notes",
        views.api_notes,
        methods=["GET", "POST"],
        middleware=[
            {
                "class": "example_project.middlewares.CacheControlMiddleware",
                "params": {"value": "no-store"},
            }
        ],
    ),
    # A load balancer polls this every few seconds: no access-log line for each poll.
    Route(
        "/health",
        views.health,
        exclude_middleware=["lback_mw.middlewares.AccessLogMiddleware"],
    ),
]

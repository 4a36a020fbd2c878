"""A ROUTES module."""

from lback_mw import Request, Route


def home(request: Request) -> str:
    return "home"


def item(request: Request, slug: str) -> dict[str, str]:
    return {"slug": slug}


routes = [
    Route("/", home),
    Route("/items/<slug>", item, methods=["GET", "PUT"]),
]

not_routes = "nothing here"

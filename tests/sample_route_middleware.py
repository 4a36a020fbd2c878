"""A ROUTES module whose routes have their own middleware and exclusions."""

from lback_mw import Request, Route


def view(request: Request) -> str:
    return request.path


routes = [
    Route("/plain", view, endpoint="plain"),
    Route(
        "/quiet",
        view,
        endpoint="quiet",
        exclude_middleware=["tests.sample_middlewares.HeaderMiddleware"],
    ),
    Route(
        "/own",
        view,
        endpoint="own",
        middleware=[
            {"class": "tests.sample_middlewares.HeaderMiddleware", "params": {"header": "X-Own"}},
            "tests.sample_middlewares.NotUsed",
        ],
    ),
]

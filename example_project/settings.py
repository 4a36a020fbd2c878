"""Settings of the example project: a small notes app on the built-in middleware.

Every upper-case name is a setting. ``LBACK_<NAME>`` environment variables
override them (``LBACK_DEBUG=0``, ``LBACK_SECRET_KEY=...``,
``LBACK_DATABASE_URL=postgresql+psycopg://...``). ``settings.yaml`` next to this
file holds the same configuration in YAML.

Everything here runs on a plain ``pip install -e .``: SQLite, signed-cookie
sessions and in-memory rate limits, no extras.
"""

# Development only: the debug 500 page shows tracebacks to anyone who asks, and
# start-up creates the demo user (demo / demo-password). Deployments set LBACK_DEBUG=0.
DEBUG = True

# Development only: a public, well-known key. With DEBUG off an empty SECRET_KEY
# refuses to start; deployments set LBACK_SECRET_KEY to a long random value.
SECRET_KEY = "example-project-development-only-insecure-key"

# The host names this site answers to; TrustedHostMiddleware refuses the others (400).
ALLOWED_HOSTS = ["localhost", "127.0.0.1"]

# A front-end dev server (npm run dev) may call the API from its own origin, with
# the user's cookies: CORS lets its scripts read the answers, and CSRF accepts its
# POSTs (with a token). In production set LBACK_CORS_ALLOW_ORIGINS to the real
# front-end origins, or to "" to turn CORS off, and LBACK_CSRF_TRUSTED_ORIGINS alike.
CORS_ALLOW_ORIGINS = ["http://localhost:3000"]
CSRF_TRUSTED_ORIGINS = ["http://localhost:3000"]

# In the recommended order, outermost first (see docs/middlewares/index.md);
# `lback-mw check` warns about any pair out of order. One built-in is left out:
# HTTPSRedirectMiddleware would follow TrustedHostMiddleware in production; the
# development server speaks plain http only. Add it with HTTPS, and behind a
# TLS-terminating proxy also WSGI_MIDDLEWARES (below), so requests know they are https.
MIDDLEWARES = [
    # Dotted path form: the class is built with its defaults. Prometheus metrics
    # at /metrics (set METRICS_TOKEN in production to keep them private).
    "lback_mw.middlewares.MetricsMiddleware",
    "lback_mw.middlewares.RequestIDMiddleware",
    "lback_mw.middlewares.AccessLogMiddleware",
    "lback_mw.middlewares.TimingMiddleware",
    # The project's own middleware (middlewares.py). Dict form: "params" are
    # constructor arguments; `config` is injected by name.
    {
        "class": "example_project.middlewares.CustomHeaderMiddleware",
        "params": {"header": "X-App-Name"},
    },
    {
        "class": "lback_mw.middlewares.SecurityHeadersMiddleware",
        "params": {
            # Scripts, styles, images and forms from this site only: the pages use
            # /static/css/site.css and no inline code.
            "content_security_policy": (
                "default-src 'self'; object-src 'none'; base-uri 'none'; "
                "form-action 'self'; frame-ancestors 'none'"
            ),
            "permissions_policy": "camera=(), microphone=(), geolocation=()",
        },
    },
    "lback_mw.middlewares.TrustedHostMiddleware",
    {
        # Origins come from CORS_ALLOW_ORIGINS above.
        "class": "lback_mw.middlewares.CORSMiddleware",
        "params": {
            "allow_credentials": True,
            "allow_headers": ["X-CSRF-Token"],
            "expose_headers": [
                "X-Request-ID",
                "RateLimit-Limit",
                "RateLimit-Remaining",
                "RateLimit-Reset",
                "Retry-After",
            ],
        },
    },
    "lback_mw.middlewares.CompressionMiddleware",
    # Serves STATIC_ROOT under STATIC_URL, before any session is loaded.
    "lback_mw.middlewares.StaticFilesMiddleware",
    # A signed cookie; SESSION_BACKEND = "redis://..." keeps sessions server-side.
    "lback_mw.middlewares.SessionMiddleware",
    "lback_mw.middlewares.CSRFMiddleware",
    # request.user, loaded by the user_loader dependency (DEPENDENCIES below).
    "lback_mw.middlewares.AuthenticationMiddleware",
    {
        "class": "lback_mw.middlewares.RateLimitMiddleware",
        "params": {
            # Per signed-in user; per address for anonymous requests.
            "key": "user",
            "rules": [
                # Slows password guessing down; exact, for a small limit.
                {
                    "path": "/login",
                    "methods": ["POST"],
                    "limit": "10/minute",
                    "algorithm": "sliding_window",
                },
                {
                    "path": "/signup",
                    "methods": ["POST"],
                    "limit": "10/minute",
                    "algorithm": "sliding_window",
                },
                {"path": "/api/*", "limit": "60/minute"},
            ],
        },
    },
    # request.db: one database session per request, innermost.
    "lback_mw.middlewares.SQLAlchemySessionMiddleware",
]

# Behind a reverse proxy that terminates TLS (production), trust its X-Forwarded-*
# headers, one hop; see docs/deployment.md.
# WSGI_MIDDLEWARES = [
#     {"class": "werkzeug.middleware.proxy_fix.ProxyFix", "params": {"x_for": 1, "x_proto": 1}},
# ]

# Injectable by name. Each entry names a factory, called once with its own
# parameters injected, whose return value is the dependency.
DEPENDENCIES = {
    # Replaces the built-in db_session: the same engine, with the tables created
    # at start-up (and the demo user, in DEBUG).
    "db_session": "example_project.models.make_session_factory",
    # Returns the function AuthenticationMiddleware calls with a user id.
    "user_loader": "example_project.accounts.make_user_loader",
}

# The module holding the `routes` list.
ROUTES = "example_project.routes"

# Relative to BASE_DIR, the directory of this file.
TEMPLATE_DIRS = ["templates"]
STATIC_URL = "/static/"
STATIC_ROOT = "static"

# DATABASE_URL is not set: the default is a SQLite file, db.sqlite3 in BASE_DIR.
# DATABASE_URL = "postgresql+psycopg://app:secret@db.internal/app"

# A project setting: any extra upper-case name stays readable as config.APP_CUSTOM_HEADER.
APP_CUSTOM_HEADER = "lback_mw example project"

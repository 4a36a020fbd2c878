"""Settings of the example project.

Every upper-case name is a setting. ``LBACK_<NAME>`` environment variables
override them (``LBACK_DEBUG=0``, ``LBACK_SECRET_KEY=...``,
``LBACK_DATABASE_URL=postgresql+psycopg://...``). ``settings.yaml`` next to this
file holds the same configuration in YAML.
"""

# Development only: the debug 500 page shows tracebacks to anyone who asks.
# Deployments set LBACK_DEBUG=0.
DEBUG = True

# Development only: a public, well-known key. With DEBUG off an empty SECRET_KEY
# refuses to start; deployments set LBACK_SECRET_KEY to a long random value.
SECRET_KEY = "example-project-development-only-insecure-key"

# The host names this site answers to, for host-checking middleware (the core itself
# does not reject requests by Host).
ALLOWED_HOSTS = ["localhost", "127.0.0.1"]

# Outermost first: process_request runs top to bottom, process_response bottom to top.
MIDDLEWARES = [
    # Dotted path form: the class is built with its defaults.
    "example_project.middlewares.TimerMiddleware",
    # Dict form: "params" are constructor arguments; `config` is injected by name.
    {
        "class": "example_project.middlewares.CustomHeaderMiddleware",
        "params": {"header": "X-App-Name"},
    },
]

# The module holding the `routes` list.
ROUTES = "example_project.routes"

# Relative to BASE_DIR, the directory of this file.
TEMPLATE_DIRS = ["templates"]

# DATABASE_URL is not set: the default is a SQLite file, db.sqlite3 in BASE_DIR.
# DATABASE_URL = "postgresql+psycopg://app:secret@db.internal/app"

# A project setting: any extra upper-case name stays readable as config.APP_CUSTOM_HEADER.
APP_CUSTOM_HEADER = "lback_mw example project"

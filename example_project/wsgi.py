"""The WSGI entry point for production servers.

    LBACK_DEBUG=0 LBACK_SECRET_KEY=... gunicorn --workers 4 --bind 0.0.0.0:8000 \\
        example_project.wsgi:app

Settings are read from ``example_project/settings.py``; ``LBACK_<NAME>``
environment variables override them (``LBACK_DEBUG=0``, ``LBACK_SECRET_KEY``,
``LBACK_DATABASE_URL``). Building the app creates the database tables; on a new
database, build it once before starting several workers (``lback-mw check
--settings example_project.settings`` does, and ``lback-mw serve`` does it
itself), so they do not all try to create them at the same moment.
"""

from lback_mw import create_app

app = create_app("example_project.settings")

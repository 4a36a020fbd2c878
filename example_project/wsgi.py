"""The WSGI entry point for production servers.

    gunicorn --workers 4 --bind 0.0.0.0:8000 example_project.wsgi:application

Settings are read from ``example_project/settings.py``; ``LBACK_<NAME>``
environment variables override them (``LBACK_DEBUG=0``, ``LBACK_SECRET_KEY``).
"""

from lback_mw import create_app

application = create_app("example_project.settings")

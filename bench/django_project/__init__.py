"""Django's equivalent of the example project, for ``bench/startup.py``.

The same shape as ``example_project``: an ORM model with a foreign key to the
user, templates, signed-cookie sessions, CSRF, authentication, CORS and gzip,
served by ``get_wsgi_application()``. It is only ever started, never migrated:
Django opens no database connection until a request needs one.
"""

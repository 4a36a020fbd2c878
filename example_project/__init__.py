"""The lback_mw example project: two middlewares, routes, templates and a database.

Run it with ``lback-mw run --settings example_project.settings`` from the
repository root, or serve :data:`example_project.wsgi.application` with gunicorn.
"""

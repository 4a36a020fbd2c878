"""The lback_mw example project: a small notes app on the built-in middleware.

Sign-in with sessions and CSRF-protected forms, per-user notes in SQLite through
``request.db``, a rate-limited JSON API, static CSS, and the HTTP middleware
(request id, access log, timing, security headers, trusted hosts, CORS, gzip).

Run it with ``lback-mw run --settings example_project.settings`` from the
repository root, or serve :data:`example_project.wsgi.app` with gunicorn.
"""

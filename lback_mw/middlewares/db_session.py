"""One SQLAlchemy session per request, as ``request.db``: committed or rolled back, always closed.

The decision is taken when the response leaves this middleware: a status below
400 commits, anything else rolls back, and so does an exception from the view or
an inner middleware. A commit that fails (a unique constraint checked at flush
time, a dropped connection) rolls back and is raised again, so the pipeline
replaces the view's response with an error response: the client never sees a
success for data that was not saved.

Objects loaded through ``request.db`` are not expired by the commit
(``expire_on_commit`` is off for request sessions): the layers outside this one,
and a template rendered from the body, still read their columns once the session
is closed. What was never loaded (a lazy relationship) cannot be loaded then.

The session is closed right there, before the body is sent, so no connection is
held while a slow client reads a large or streamed response. A streamed body
must therefore not use ``request.db``: it is replaced by a placeholder that
raises, because a closed SQLAlchemy session used again silently checks out a
new connection that nobody would return to the pool.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import ClassVar, NoReturn

from sqlalchemy.orm import Session
from werkzeug.wrappers import Response as WerkzeugResponse

from .._environ_keys import EXCEPTION_KEY
from ..exceptions import ImproperlyConfigured
from ..wrappers import Request
from .base import BaseMiddleware


class _ClosedSession:
    """What ``request.db`` is once the response has left the middleware."""

    __slots__ = ()

    def __getattr__(self, name: str) -> NoReturn:
        raise RuntimeError(
            f"request.db.{name}: the request's database session was closed when the "
            "response left SQLAlchemySessionMiddleware. A streamed body cannot use it: "
            "load the rows in the view, or open a session of your own in the generator "
            "(with db_session() as session: ...)."
        )

    def __repr__(self) -> str:
        return "<request.db: closed by SQLAlchemySessionMiddleware>"


_CLOSED = _ClosedSession()


class SQLAlchemySessionMiddleware(BaseMiddleware):
    """Open a session per request as ``request.db``; commit below 400, else roll back.

    :param db_session: the session factory, injected from the ``db_session``
        dependency (a ``sessionmaker`` bound to ``DATABASE_URL``); any callable
        returning a new :class:`~sqlalchemy.orm.Session` will do.
    :param logger: where a failed commit is reported (the traceback goes to
        ``lback_mw.errors`` with the error response, like any unhandled exception).
    """

    ordering_role: ClassVar[str] = "db_session"

    def __init__(
        self,
        *,
        db_session: Callable[[], Session],
        logger: logging.Logger | None = None,
    ) -> None:
        if not callable(db_session):
            raise ImproperlyConfigured(
                f"{type(self).__name__}: db_session must be a session factory (a "
                f"sqlalchemy.orm.sessionmaker), called once per request; got "
                f"{type(db_session).__name__} {db_session!r:.80}. Provide the factory, "
                "not a session: app.provide('db_session', sessionmaker(bind=engine)), or "
                "leave db_session out to use the one built from DATABASE_URL."
            )
        self.db_session = db_session
        self.logger = logger or logging.getLogger(__name__)

    def process_request(self, request: Request) -> None:
        # Only what fails from here on concerns this session (an outer layer may
        # run the chain again after a failure, to retry it).
        request.environ.pop(EXCEPTION_KEY, None)
        session = self.db_session()
        # What the view loaded stays readable after the commit and close below: the
        # outer layers (the access log reading request.user.username, an after-request
        # hook) run then, and an expired object would raise DetachedInstanceError.
        session.expire_on_commit = False
        request.db = session

    def process_exception(self, request: Request, exc: Exception) -> None:
        # Roll back now rather than in process_response: after a failed flush the
        # session refuses every query until rolled back, and error handlers that
        # run next may want request.db. Returning None lets the error flow go on.
        request.db.rollback()
        # Dealt with: what an error handler writes next follows its response's status.
        request.environ.pop(EXCEPTION_KEY, None)

    def process_response(self, request: Request, response: WerkzeugResponse) -> WerkzeugResponse:
        session: Session = request.db
        request.db = _CLOSED
        try:
            # PERF: a request that never used the session has nothing to end, and
            # commit() would begin and commit an empty transaction (about 25 us).
            if session.in_transaction():
                # An exception that became a response inside this middleware without
                # reaching process_exception (an inner middleware or a call_next layer
                # answered it) rolls back too, whatever the status it was answered with.
                if response.status_code < 400 and EXCEPTION_KEY not in request.environ:
                    self._commit(session, request, response)
                else:
                    session.rollback()
        finally:
            session.close()
        return response

    def _commit(self, session: Session, request: Request, response: WerkzeugResponse) -> None:
        try:
            session.commit()
        except Exception as exc:
            session.rollback()
            self.logger.error(
                "Commit failed on %s %r (%s); rolled back, and the view's %d response "
                "is replaced by an error response.",
                request.method,
                request.path,
                type(exc).__name__,
                response.status_code,
            )
            raise  # the pipeline turns it into the app's error response

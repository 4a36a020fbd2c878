"""The tables, and the ``db_session`` factory that creates them when the app starts."""

from __future__ import annotations

import datetime

from sqlalchemy import ForeignKey, String, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from lback_mw import Settings
from lback_mw.auth import UserMixin
from lback_mw.database import database_url, session_factory

#: The demo account created at start-up when DEBUG is on (see make_session_factory).
DEMO_USERNAME = "demo"
#: generate_password_hash("demo-password"), computed once: hashing costs ~0.1 s on
#: purpose, and this keeps it out of every start-up.
DEMO_PASSWORD_HASH = (
    "scrypt:32768:8:1$dqmAZxyJUy5niYvx$ee6538d39e9677b2f34c79066df3ec38d5cf5b9a5d5b3fafbe7cbf"
    "50c21bcbb055b416b491b640d2bac80b7fbb394eb1e12b24d82d4d617f4f74ddb065ce2e8d"
)


class Base(DeclarativeBase):
    pass


class User(UserMixin, Base):
    """An account. ``UserMixin`` gives ``is_authenticated`` and ``get_id()``."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(40), unique=True)
    # Only the hash is stored (werkzeug.security: scrypt, salted), never the password.
    password_hash: Mapped[str] = mapped_column(String(200))


class Note(Base):
    __tablename__ = "notes"

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    text: Mapped[str] = mapped_column(String(500))
    created_at: Mapped[datetime.datetime] = mapped_column(server_default=func.now())

    def as_dict(self) -> dict[str, object]:
        return {"id": self.id, "text": self.text, "created_at": self.created_at.isoformat()}


def make_session_factory(config: Settings) -> sessionmaker[Session]:
    """The ``db_session`` dependency, named in ``DEPENDENCIES``: the same factory as
    the built-in one (an engine on ``DATABASE_URL``), after creating the tables.

    SQLAlchemySessionMiddleware asks for ``db_session`` when the app is built, so
    this runs once per process at start-up, before any request. A real project
    runs migrations (Alembic) instead; ``lback-mw serve`` builds the app once in
    the master before forking its workers, so they do not race to create tables.
    """
    factory = session_factory(database_url(config.DATABASE_URL, config.BASE_DIR))
    Base.metadata.create_all(factory.kw["bind"])
    if config.DEBUG:
        # Only in development: a well-known password must never reach production.
        _create_demo_user(factory)
    return factory


def _create_demo_user(factory: sessionmaker[Session]) -> None:
    with factory() as db:
        if db.scalar(select(User.id).where(User.username == DEMO_USERNAME)) is not None:
            return
        db.add(User(username=DEMO_USERNAME, password_hash=DEMO_PASSWORD_HASH))
        try:
            db.commit()
        except IntegrityError:  # another process created it first
            db.rollback()

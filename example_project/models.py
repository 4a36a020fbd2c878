"""The example project's one table, and a session that creates it on first use."""

from __future__ import annotations

import datetime
import threading
import weakref

from sqlalchemy import Engine, String, func
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker


class Base(DeclarativeBase):
    pass


class Note(Base):
    __tablename__ = "notes"

    id: Mapped[int] = mapped_column(primary_key=True)
    text: Mapped[str] = mapped_column(String(500))
    created_at: Mapped[datetime.datetime] = mapped_column(server_default=func.now())

    def as_dict(self) -> dict[str, object]:
        return {"id": self.id, "text": self.text, "created_at": self.created_at.isoformat()}


# Engines whose tables exist. A real project runs migrations (Alembic) instead.
_ready: weakref.WeakSet[Engine] = weakref.WeakSet()
_lock = threading.Lock()


def open_session(factory: sessionmaker[Session]) -> Session:
    """A session from the ``db_session`` factory, creating the tables the first time."""
    engine: Engine = factory.kw["bind"]
    if engine not in _ready:
        with _lock:
            if engine not in _ready:
                Base.metadata.create_all(engine)
                _ready.add(engine)
    return factory()

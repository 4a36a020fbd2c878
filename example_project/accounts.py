"""Users: checking a password, signing up, and the ``user_loader`` of AuthenticationMiddleware."""

from __future__ import annotations

import re
from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.security import check_password_hash, generate_password_hash

from .models import DEMO_PASSWORD_HASH, User

USERNAME = re.compile(r"[a-z0-9_.-]{3,40}")
MIN_PASSWORD_LENGTH = 8


def make_user_loader(db_session: sessionmaker[Session]) -> Callable[[str], User | None]:
    """What ``DEPENDENCIES["user_loader"]`` names: a factory, called once with the
    ``db_session`` dependency injected, returning the loader itself.

    The loader runs when a view first touches ``request.user``. It cannot use
    ``request.db`` (it is not given the request), so it opens a short session of
    its own; the user it returns is detached, with its columns loaded.
    """

    def load_user(user_id: str) -> User | None:
        with db_session() as db:
            return db.get(User, int(user_id))

    return load_user


def authenticate(db: Session, username: str, password: str) -> User | None:
    """The user with this username and password, or ``None``."""
    user = db.scalar(select(User).where(User.username == username.strip().lower()))
    # An unknown name costs the same hash check as a wrong password, so timing
    # does not tell an attacker which usernames exist.
    valid = check_password_hash(user.password_hash if user else DEMO_PASSWORD_HASH, password)
    return user if user is not None and valid else None


def sign_up(db: Session, username: str, password: str) -> tuple[User | None, str | None]:
    """Create a user: ``(user, None)``, or ``(None, what to fix)``."""
    username = username.strip().lower()
    if not USERNAME.fullmatch(username):
        return None, "A username is 3 to 40 lower-case letters, digits, '.', '_' or '-'."
    if len(password) < MIN_PASSWORD_LENGTH:
        return None, f"A password has at least {MIN_PASSWORD_LENGTH} characters."
    user = User(username=username, password_hash=generate_password_hash(password))
    db.add(user)
    try:
        db.flush()  # the unique constraint is checked here, and user.id assigned
    except IntegrityError:
        db.rollback()
        return None, "That username is taken."
    return user, None

"""SQLAlchemySessionMiddleware: commit or roll back by outcome, close always, leak nothing."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, event, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker
from sqlalchemy.pool import QueuePool
from werkzeug.exceptions import Forbidden

from lback_mw import App, BaseMiddleware, ImproperlyConfigured, Request, Response
from lback_mw.testing import Client

DB_SESSION = "lback_mw.middlewares.SQLAlchemySessionMiddleware"
EXISTING = 1  # an id already in the table: adding it again fails at commit

AppFactory = Callable[..., App]
ClientFor = Callable[[App], Client]


class Base(DeclarativeBase):
    pass


class Item(Base):
    __tablename__ = "items"

    id: Mapped[int] = mapped_column(primary_key=True)


class TrackedSession(Session):
    """A session that registers itself in ``info["sessions"]`` and remembers being closed."""

    was_closed = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.info["sessions"].append(self)

    def close(self) -> None:
        self.was_closed = True
        super().close()


def make_engine(url: str, pool_timeout: float = 1) -> Engine:
    """The database behind a pool of two connections: two leaks and requests time out."""
    engine = create_engine(
        url,
        poolclass=QueuePool,
        pool_size=2,
        max_overflow=0,
        pool_timeout=pool_timeout,
    )
    if engine.dialect.name == "sqlite":
        # Skip the fsync per commit: this tests sessions, not the disk.
        event.listen(engine, "connect", lambda conn, record: conn.execute("PRAGMA synchronous=OFF"))
    Base.metadata.create_all(engine)
    with Session(engine) as session, session.begin():
        session.add(Item(id=EXISTING))
    return engine


def stored(engine: Engine) -> set[int]:
    """The ids committed, as a fresh session sees them."""
    with Session(engine) as session:
        return set(session.scalars(select(Item.id))) - {EXISTING}


class InnerWriter(BaseMiddleware):
    """Writes through request.db, then raises or refuses, as the X-Inner header says."""

    def process_request(self, request: Request) -> Response | None:
        action = request.headers.get("X-Inner")
        if action is None:
            return None
        request.db.add(Item(id=int(request.headers["X-Id"])))
        if action == "raise":
            raise RuntimeError("inner middleware failed")
        return Response("refused", status=403)


class OuterFailing(BaseMiddleware):
    """Raises in process_response when asked to, after the session middleware is done."""

    def process_response(self, request: Request, response: Any) -> Any:
        if request.headers.get("X-Outer") == "raise":
            raise RuntimeError("outer middleware failed")
        return response


class Database:
    """The engine, the factory given to the app, and every session it made."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.sessions: list[TrackedSession] = []
        self.factory = sessionmaker(
            bind=engine, class_=TrackedSession, info={"sessions": self.sessions}
        )
        #: "commit" and "rollback", as the sessions' events report them (close()
        #: alone also discards the transaction, but fires no rollback event).
        self.events: list[str] = []
        event.listen(self.factory, "after_commit", lambda session: self.events.append("commit"))
        event.listen(self.factory, "after_rollback", lambda session: self.events.append("rollback"))

    def assert_all_closed(self, requests: int) -> None:
        assert len(self.sessions) == requests
        assert all(session.was_closed for session in self.sessions)
        assert self.engine.pool.checkedout() == 0  # type: ignore[attr-defined]


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    engine = make_engine(database_url)
    yield Database(engine)
    engine.dispose()


def build(app_factory: AppFactory, db: Database, **settings: Any) -> App:
    app = app_factory(
        MIDDLEWARES=[OuterFailing, DB_SESSION, InnerWriter],
        dependencies={"db_session": db.factory},
        **settings,
    )

    @app.route("/items/<int:id>", methods=["POST"])
    def create(request: Request, id: int) -> Any:
        """Adds ``?also=`` then ``id``; answers ``?status=``, or raises as ``?raise=`` says."""
        for each in (*request.args.getlist("also", type=int), id):
            request.db.add(Item(id=each))
        if request.args.get("flush"):
            request.db.flush()
        match request.args.get("raise"):
            case "runtime":
                raise RuntimeError("view failed")
            case "http":
                raise Forbidden()
        status = request.args.get("status", 201, type=int)
        headers = {"Location": "/items"} if 300 <= status < 400 else {}
        return "done", status, headers

    return app


@pytest.fixture
def client(app_factory: AppFactory, db: Database, client_for: ClientFor) -> Client:
    return client_for(build(app_factory, db))


# -- commit or roll back ---------------------------------------------------------------


@pytest.mark.parametrize("status", [200, 201, 302, 303, 399])
def test_commits_when_the_response_succeeds(client: Client, db: Database, status: int) -> None:
    response = client.post(f"/items/7?status={status}")

    assert response.status_code == status
    assert stored(db.engine) == {7}
    assert db.events == ["commit"]
    db.assert_all_closed(1)


def test_a_request_that_never_queries_only_closes(
    app_factory: AppFactory, db: Database, client_for: ClientFor
) -> None:
    app = build(app_factory, db)
    app.route("/health")(lambda request: "ok")

    assert client_for(app).get("/health").text == "ok"
    assert db.events == []  # no empty transaction begun and committed
    db.assert_all_closed(1)


@pytest.mark.parametrize("status", [400, 404, 409, 500, 503])
def test_rolls_back_error_statuses_the_view_returns(
    client: Client, db: Database, status: int
) -> None:
    response = client.post(f"/items/7?status={status}")

    assert response.status_code == status
    assert stored(db.engine) == set()
    assert db.events == ["rollback"]
    db.assert_all_closed(1)


@pytest.mark.parametrize(("kind", "status"), [("runtime", 500), ("http", 403)])
def test_rolls_back_when_the_view_raises(
    client: Client, db: Database, kind: str, status: int, caplog: pytest.LogCaptureFixture
) -> None:
    response = client.post(f"/items/7?flush=1&raise={kind}")  # flushed: the row is in the DB

    assert response.status_code == status
    assert stored(db.engine) == set()
    assert db.events == ["rollback"]
    db.assert_all_closed(1)


@pytest.mark.parametrize(("action", "status"), [("raise", 500), ("refuse", 403)])
def test_rolls_back_what_an_inner_middleware_wrote(
    client: Client, db: Database, action: str, status: int, caplog: pytest.LogCaptureFixture
) -> None:
    response = client.post("/items/7", headers={"X-Inner": action, "X-Id": "8"})

    assert response.status_code == status
    assert stored(db.engine) == set()
    assert db.events == ["rollback"]
    db.assert_all_closed(1)


class Redirecting(BaseMiddleware):
    """Answers any exception with a redirect, before the session middleware hears of it."""

    def process_exception(self, request: Request, exc: Exception) -> Response:
        return Response(status=303, headers={"Location": "/oops"})


def passthrough(request: Request, call_next: Callable[[Request], Any]) -> Any:
    """A call_next middleware: the inner run turns the view's exception into a response."""
    return call_next(request)


@pytest.mark.parametrize("handled_by", ["inner middleware", "error handler inside call_next"])
def test_an_exception_answered_with_a_success_status_still_rolls_back(
    app_factory: AppFactory, db: Database, client_for: ClientFor, handled_by: str
) -> None:
    if handled_by == "inner middleware":
        app = app_factory(
            MIDDLEWARES=[DB_SESSION, Redirecting], dependencies={"db_session": db.factory}
        )
    else:
        app = app_factory(MIDDLEWARES=[DB_SESSION], dependencies={"db_session": db.factory})
        app.use(passthrough)
        app.errorhandler(RuntimeError)(lambda request, exc: ("", 303, {"Location": "/oops"}))

    @app.route("/items/<int:id>", methods=["POST"])
    def create(request: Request, id: int) -> Any:
        request.db.add(Item(id=id))
        request.db.flush()
        raise RuntimeError("half done")

    response = client_for(app).post("/items/7")

    assert response.status_code == 303
    assert stored(db.engine) == set()  # the half-done work is not committed
    db.assert_all_closed(1)


def test_what_an_error_handler_writes_follows_its_status(
    app_factory: AppFactory, db: Database, client_for: ClientFor
) -> None:
    app = build(app_factory, db)

    @app.errorhandler(RuntimeError)
    def note_failure(request: Request, exc: Exception) -> tuple[str, int, dict[str, str]]:
        request.db.add(Item(id=99))  # after process_exception rolled the view's work back
        return "", 303, {"Location": "/oops"}

    response = client_for(app).post("/items/7?flush=1&raise=runtime")

    assert response.status_code == 303
    assert stored(db.engine) == {99}
    db.assert_all_closed(1)


class RetryOnce:
    """A call_next middleware outside the session middleware: runs the chain again after a 500."""

    def dispatch(self, request: Request, call_next: Callable[[Request], Any]) -> Any:
        response = call_next(request)
        return call_next(request) if response.status_code == 500 else response


def test_a_failed_first_run_does_not_roll_back_a_retried_one(
    app_factory: AppFactory, db: Database, client_for: ClientFor, caplog: pytest.LogCaptureFixture
) -> None:
    app = app_factory(MIDDLEWARES=[RetryOnce, DB_SESSION], dependencies={"db_session": db.factory})
    tries: list[int] = []

    @app.route("/items/<int:id>", methods=["POST"])
    def create(request: Request, id: int) -> Any:
        tries.append(id)
        request.db.add(Item(id=id + len(tries)))
        request.db.flush()
        if len(tries) == 1:
            raise RuntimeError("transient")
        return "done", 201

    assert client_for(app).post("/items/7").status_code == 201
    assert stored(db.engine) == {9}  # the retry's row; the first run's 8 rolled back
    db.assert_all_closed(2)


def test_error_handlers_can_query_after_a_failed_flush(
    app_factory: AppFactory, db: Database, client_for: ClientFor
) -> None:
    app = build(app_factory, db)

    @app.errorhandler(IntegrityError)
    def conflict(request: Request, exc: Exception) -> tuple[dict[str, int], int]:
        # Without the rollback in process_exception, this query raises PendingRollbackError.
        return {"items": request.db.scalar(select(func.count(Item.id)))}, 409

    response = client_for(app).post(f"/items/{EXISTING}?also=5&flush=1")

    assert response.status_code == 409
    assert response.json == {"items": 1}
    assert stored(db.engine) == set()
    db.assert_all_closed(1)


# -- a failed commit -------------------------------------------------------------------


@pytest.mark.parametrize("debug", [False, True])
def test_a_failed_commit_becomes_a_500_and_rolls_back(
    app_factory: AppFactory,
    db: Database,
    client_for: ClientFor,
    caplog: pytest.LogCaptureFixture,
    debug: bool,
) -> None:
    client = client_for(build(app_factory, db, DEBUG=debug))

    with caplog.at_level(logging.ERROR):
        response = client.post(f"/items/{EXISTING}?also=5")  # 5 goes in, then the duplicate

    assert response.status_code == 500
    assert ("IntegrityError" in response.text) is debug  # the app's error page
    assert stored(db.engine) == set()  # 5 was rolled back with the duplicate
    db.assert_all_closed(1)
    ours, core = caplog.records
    assert ours.name == "lback_mw.middlewares.db_session"
    assert ours.getMessage() == (
        "Commit failed on POST '/items/1' (IntegrityError); rolled back, and the view's "
        "201 response is replaced by an error response."
    )
    assert core.name == "lback_mw.errors"
    assert core.exc_info is not None
    assert isinstance(core.exc_info[1], IntegrityError)


def test_error_handlers_answer_a_failed_commit(
    app_factory: AppFactory, db: Database, client_for: ClientFor
) -> None:
    app = build(app_factory, db)

    @app.errorhandler(IntegrityError)
    def conflict(request: Request, exc: Exception) -> tuple[dict[str, str], int]:
        return {"error": "already exists"}, 409

    response = client_for(app).post(f"/items/{EXISTING}")

    assert response.status_code == 409
    assert response.json == {"error": "already exists"}
    db.assert_all_closed(1)


# -- closing ---------------------------------------------------------------------------


def test_an_outer_failure_comes_after_the_commit_and_close(
    client: Client, db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    response = client.post("/items/7", headers={"X-Outer": "raise"})

    assert response.status_code == 500
    assert stored(db.engine) == {7}  # committed as the response left the middleware
    db.assert_all_closed(1)


def test_request_db_refuses_use_once_closed(
    app_factory: AppFactory, db: Database, client_for: ClientFor
) -> None:
    app = build(app_factory, db)

    @app.route("/stream")
    def stream(request: Request) -> Response:
        def rows() -> Iterator[str]:
            yield "ids:"
            yield str(request.db.scalars(select(Item.id)).all())

        return Response(rows())

    with pytest.raises(RuntimeError, match=r"request.db.scalars: the request's database session"):
        client_for(app).get("/stream")
    db.assert_all_closed(1)


def test_no_connection_leaks_under_load(
    client: Client, db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    committed = set()
    for i in range(200):
        item = 100 + i
        match i % 6:
            case 0:
                assert client.post(f"/items/{item}").status_code == 201
                committed.add(item)
            case 1:
                assert client.post(f"/items/{item}?status=422").status_code == 422
            case 2:
                assert client.post(f"/items/{item}?flush=1&raise=runtime").status_code == 500
            case 3:
                assert client.post(f"/items/{EXISTING}?also={item}").status_code == 500
            case 4:
                headers = {"X-Inner": "raise", "X-Id": str(item)}
                assert client.post(f"/items/{item}", headers=headers).status_code == 500
            case 5:
                assert (
                    client.post(f"/items/{item}", headers={"X-Outer": "raise"}).status_code == 500
                )
                committed.add(item)

    assert stored(db.engine) == committed
    db.assert_all_closed(200)


def test_no_connection_leaks_with_concurrent_threads(
    app_factory: AppFactory, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    # A longer pool timeout: 8 threads share 2 connections, and only a leak may fail this.
    engine = make_engine(database_url, pool_timeout=10)
    db = Database(engine)
    app = build(app_factory, db)
    errors: list[BaseException] = []
    committed: set[int] = set()
    lock = threading.Lock()

    def worker(thread: int) -> None:
        client = Client(app)  # a client each: a client's cookie jar is not thread-safe
        try:
            for n in range(25):
                item = 1000 * (thread + 1) + n
                if n % 3 == 0:
                    assert client.post(f"/items/{item}").status_code == 201
                    with lock:
                        committed.add(item)
                elif n % 3 == 1:
                    assert client.post(f"/items/{item}?flush=1&raise=runtime").status_code == 500
                else:
                    assert client.post(f"/items/{EXISTING}?also={item}").status_code == 500
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert stored(engine) == committed
    db.assert_all_closed(200)
    engine.dispose()


# -- configuration ---------------------------------------------------------------------


def test_uses_the_db_session_built_from_database_url(
    app_factory: AppFactory, database_url: str, client_for: ClientFor
) -> None:
    app = app_factory(DATABASE_URL=database_url, MIDDLEWARES=[DB_SESSION])
    factory: sessionmaker[Session] = app.dependencies["db_session"]
    Base.metadata.create_all(factory.kw["bind"])

    @app.route("/items/<int:id>", methods=["POST"])
    def create(request: Request, id: int) -> str:
        request.db.add(Item(id=id))
        return "saved"

    assert client_for(app).post("/items/3").status_code == 200
    with factory() as session:
        assert session.get(Item, 3) is not None
    assert factory.kw["bind"].pool.checkedout() == 0


def test_db_session_must_be_a_factory(app_factory: AppFactory, db: Database) -> None:
    session = db.factory()
    with pytest.raises(ImproperlyConfigured) as info:
        app_factory(MIDDLEWARES=[DB_SESSION], dependencies={"db_session": session})
    session.close()

    assert str(info.value).startswith(
        f"MIDDLEWARES[0] ({DB_SESSION!r}): SQLAlchemySessionMiddleware: db_session must be a "
        "session factory (a sqlalchemy.orm.sessionmaker), called once per request; got "
        "TrackedSession <"
    )
    assert "Provide the factory, not a session: app.provide('db_session'" in str(info.value)

"""The database engine: opening SQLite or PostgreSQL, SQLite's pragmas and background WAL
checkpoints, and the three kinds of connection the registry uses (a write transaction, a
one-statement read, a multi-statement snapshot).

Invariant: no SQLAlchemy exception leaves this package; each becomes a
:class:`~elicence.errors.RegistryError`.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import threading
import time
import weakref
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import TYPE_CHECKING, Any, ClassVar

from sqlalchemy import Connection, Engine, create_engine, event, make_url
from sqlalchemy.exc import DisconnectionError, IntegrityError, SQLAlchemyError
from sqlalchemy.pool import StaticPool

from elicence.errors import RegistryError
from elicence.registry.uow import LOG_LOCK, UnitOfWork

if TYPE_CHECKING:
    from elicence.registry.pggroup import GroupTransaction, GroupWriter

log = logging.getLogger("elicence.registry")
WAL_CHECKPOINT_SECONDS = 1.0
BUSY_SECONDS = 30  # how long a SQLite writer waits for its turn, in this process or another
SQLITE_POOL = 20  # kept connections to a SQLite file per process (and as many more at a peak)
WAL_SAFETY_PAGES = 20_000  # 80 MB: checkpoint inline only if the background one falls behind


def _create_private(path: str) -> None:
    """Create the SQLite file readable by its owner only (0600) before SQLite opens it: SQLite
    gives its ``-wal`` and ``-shm`` files the database file's mode."""
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError:
        return
    except OSError:
        return  # a missing directory: SQLite says so when it opens the file
    os.close(fd)


def _private_on_connect(engine: Engine, path: str) -> None:
    """Create the file 0600 just before SQLite first opens it (not when the engine is made: a
    restore checks its backup before anything is written)."""

    @event.listens_for(engine, "do_connect")
    def _create(*_args: Any) -> None:
        _create_private(path)


def unstorable() -> RegistryError:
    """A write refused because a driver could not encode its text (rolled back)."""
    return RegistryError(
        "the registry cannot store text that is not valid Unicode: nothing was written"
    )


def store_json(value: Any) -> str:
    """The text a JSON column stores: UTF-8 as it is, never ``\\uXXXX`` escapes of what UTF-8
    cannot hold. SQLAlchemy's default (``ensure_ascii``) wrote a lone surrogate as the escape
    ``"\\ud800"``, which both databases took and which became, when read back, a string no
    answer could encode: stored, then unreadable (issue 16). A value that cannot be stored as
    text is refused here, in the write, so its transaction rolls back.
    """
    text = json.dumps(value, ensure_ascii=False, allow_nan=False)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as e:
        raise ValueError(
            f"a JSON value holds text that is not valid Unicode (U+{ord(e.object[e.start]):04X})"
        ) from None
    return text


def open_engine(url: str) -> Engine:
    """An engine for ``url`` (SQLite file, SQLite memory or PostgreSQL). A new SQLite file is
    created with mode 0600."""
    try:
        if url.startswith("sqlite"):
            memory = url in ("sqlite://", "sqlite:///:memory:")
            path = make_url(url).database
            engine = create_engine(
                url,
                connect_args={"check_same_thread": False, "timeout": BUSY_SECONDS},
                poolclass=StaticPool if memory else None,
                json_serializer=store_json,
                # as many kept connections as the thread pool runs requests at once: beyond
                # the default 5, each read opened, set up (the pragmas) and closed a connection
                **({} if memory else {"pool_size": SQLITE_POOL, "max_overflow": SQLITE_POOL}),
            )
            _sqlite_pragmas(engine)
            if not memory and path and not path.startswith("file:"):
                _private_on_connect(engine, path)
        else:
            engine = create_engine(url, pool_size=10, max_overflow=20, json_serializer=store_json)
            _pg_liveness(engine)
    except (SQLAlchemyError, ImportError, ValueError) as e:
        raise RegistryError(f"cannot open the database {url!r}: {e}") from e
    return engine


def _pg_liveness(engine: Engine) -> None:
    """Check a pooled PostgreSQL connection at checkout without a round trip (instead of
    ``pool_pre_ping``'s ``SELECT 1``): a connection the server closed has its goodbye or EOF
    waiting on the socket, and is replaced (the pool retries with a fresh one)."""
    from elicence.registry.pgcopy import driver_alive

    @event.listens_for(engine, "checkout")
    def _checkout(dbapi_conn: Any, _record: Any, _proxy: Any) -> None:
        if not driver_alive(dbapi_conn):
            raise DisconnectionError("the server closed this pooled connection")


class _WriteTurn:
    """This process's SQLite writers in turn: one re-entrant lock per engine, so that they queue
    here (woken at once, in order) instead of in SQLite's busy handler, which sleeps in steps of
    up to 100 ms. Like that timeout, a writer that waits ``BUSY_SECONDS`` gives up with a
    :class:`RegistryError`.

    Writers of other processes on the same file (``serve --workers N``, the command line) take
    turns too, through :class:`_FileTurn`: under load SQLite's busy handler let one worker's
    writers starve the other's for up to a second (issuance p99 787 ms, issue 20)."""

    _shared: ClassVar[weakref.WeakKeyDictionary[Engine, _Turns]] = weakref.WeakKeyDictionary()
    _guard: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, engine: Engine, path: str | None) -> None:
        with self._guard:
            turns = self._shared.get(engine)
            if turns is None:
                turns = self._shared[engine] = _Turns(_FileTurn(path) if path else None)
        self._turns = turns
        self.lock = turns.lock

    def __enter__(self) -> None:
        t = self._turns
        if not t.lock.acquire(timeout=BUSY_SECONDS):  # read at call time (tests lower it)
            raise RegistryError(f"the registry stayed busy for {BUSY_SECONDS} s; retry")
        if t.depth == 0 and t.file is not None:
            try:
                t.file.acquire(BUSY_SECONDS)
            except BaseException:
                t.lock.release()
                raise
        t.depth += 1

    def __exit__(self, *_exc: object) -> None:
        t = self._turns
        t.depth -= 1
        if t.depth == 0 and t.file is not None:
            t.file.release()
        t.lock.release()


class _Turns:
    """One engine's writer turns: the process's lock, the file turn, and how deeply the thread
    holding the lock has entered it (the file turn is taken once, by the outermost)."""

    def __init__(self, file: _FileTurn | None) -> None:
        self.lock = threading.RLock()
        self.file = file
        self.depth = 0


class _FileTurn:
    """Writers of several processes on one SQLite file in turn, fairly: ``flock`` on two files
    beside the database (0600), a gate and the turn. A process waiting for the turn holds the
    gate, so the process that has just written queues behind it at the gate instead of taking
    the turn again at once (two workers alternate). Waiting polls every 0.5 ms (a waiter starts
    within half a millisecond of its turn, and gives up after ``BUSY_SECONDS`` as SQLite's busy
    timeout would); a killed process's locks go with it. SQLite's own lock still guards the file
    against writers that do not take turns (an older version, the ``sqlite3`` shell)."""

    POLL = 0.0005
    QUICK_POLL, QUICK_TRIES = 0.00005, 20

    def __init__(self, path: str) -> None:
        self._path = path
        self._gate = self._turn = -1  # opened by the first writer (under the process's lock)

    def _open(self) -> None:
        """The two files, opened once; a directory that is missing or not writable is the
        registry's :class:`RegistryError` (as SQLite's own "unable to open" is), not a crash."""
        if self._turn >= 0:
            return
        try:
            gate = _lock_file(f"{self._path}-gate")
            try:
                turn = _lock_file(f"{self._path}-turn")
            except OSError:
                os.close(gate)
                raise
        except OSError as e:
            raise RegistryError(
                f"cannot open the registry's lock files beside {self._path}: {e.strerror}"
            ) from None
        self._gate, self._turn = gate, turn
        weakref.finalize(self, _close, gate, turn)  # with the engine

    def acquire(self, timeout: float) -> None:
        self._open()
        deadline = time.monotonic() + timeout
        _wait_lock(self._gate, deadline)
        try:
            _wait_lock(self._turn, deadline)
        finally:
            fcntl.flock(self._gate, fcntl.LOCK_UN)

    def release(self) -> None:
        fcntl.flock(self._turn, fcntl.LOCK_UN)


def _lock_file(path: str) -> int:
    return os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)


def _close(*fds: int) -> None:
    for fd in fds:
        os.close(fd)


def _try_lock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _wait_lock(fd: int, deadline: float) -> None:
    tries = 0
    while not _try_lock(fd):
        if time.monotonic() >= deadline:
            raise RegistryError(f"the registry stayed busy for {BUSY_SECONDS} s; retry")
        # a write holds the turn for a tenth of a millisecond or so: look again soon at first
        time.sleep(_FileTurn.QUICK_POLL if tries < _FileTurn.QUICK_TRIES else _FileTurn.POLL)
        tries += 1


def _write_turn(engine: Engine) -> AbstractContextManager[Any]:
    if engine.dialect.name != "sqlite":
        return nullcontext()
    path = engine.url.database
    on_disk = path not in (None, "", ":memory:") and not str(path).startswith("file:")
    return _WriteTurn(engine, path if on_disk else None)


class _WalCheckpointer:
    """A thread that checkpoints SQLite's WAL every ``interval`` seconds (PASSIVE: it never
    waits for, or blocks, a writer), so that issuances do not pay for checkpoint fsyncs."""

    def __init__(self, engine: Engine, *, interval: float) -> None:
        # no BEGIN around the pragma: a checkpoint inside a transaction stops at its snapshot
        self._engine = engine.execution_options(elicence_read_one=True)
        self._interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.done = 0  # checkpoints run (for tests and operators)

    def start(self) -> None:
        if self._thread is not None:
            return
        with self._lock:
            if self._thread is None and not self._stop.is_set():
                self._thread = threading.Thread(
                    target=self._run, name="elicence-wal-checkpoint", daemon=True
                )
                self._thread.start()

    def close(self) -> None:
        self._stop.set()
        thread = self._thread
        if thread is not None:
            thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                with self._engine.connect() as conn:
                    conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")
                self.done += 1
            except Exception:
                log.exception("WAL checkpoint failed; SQLite will checkpoint inline instead")


class Database:
    """An engine and the connections the registry opens on it."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._writer = engine.execution_options(elicence_write=True)
        # one-statement reads: no BEGIN on SQLite (see _sqlite_pragmas); autocommit on
        # PostgreSQL (no BEGIN and ROLLBACK round trips around the statement; under READ
        # COMMITTED a statement sees the same either way)
        self._reader = (
            engine.execution_options(isolation_level="AUTOCOMMIT", elicence_read_one=True)
            if engine.dialect.name == "postgresql"
            else engine.execution_options(elicence_read_one=True)
        )
        self._write_lock = _write_turn(engine)  # SQLite: this process's writers in turn
        self._writer_conn: Connection | None = None  # see writer_unit_of_work
        self._writer_lock = threading.Lock()
        self._group: GroupWriter | None = None  # PostgreSQL: see writer_unit_of_work
        if engine.dialect.name == "postgresql":
            from elicence.registry.pggroup import GroupWriter

            self._group = GroupWriter(engine, lock_key=LOG_LOCK)
        # SQLite files: WAL checkpoints (and their fsyncs) off the request path.
        database = engine.url.database
        self._checkpoints = (
            _WalCheckpointer(engine, interval=WAL_CHECKPOINT_SECONDS)
            if engine.dialect.name == "sqlite" and database not in (None, "", ":memory:")
            else None
        )

    def files(self) -> list[str]:
        """The database's files on this host (SQLite: the file and its ``-wal`` and ``-shm``;
        nothing for PostgreSQL or memory)."""
        database = self.engine.url.database
        if self.engine.dialect.name != "sqlite" or database in (None, "", ":memory:"):
            return []
        assert database is not None
        return [database, f"{database}-wal", f"{database}-shm"]

    @contextmanager
    def writer_unit_of_work(self) -> Iterator[UnitOfWork | GroupTransaction]:
        """A write transaction on this process's one dedicated writer connection, for the
        group committer's leader, which writes one group at a time: on PostgreSQL a
        :class:`~elicence.registry.pggroup.GroupTransaction` (one query a group), on
        SQLite a :class:`UnitOfWork`.

        The connection stays open between transactions (no pool checkout per transaction). A
        connection the database dropped is replaced at the next transaction.
        """
        if self._group is not None:
            with self._group.group() as tx:
                yield tx
            return
        with self._writer_lock:
            conn = self._writer_conn
            if conn is not None and not (conn.closed or conn.invalidated) and not _alive(conn):
                conn.invalidate()  # the server closed it while it waited
            if conn is None or conn.closed or conn.invalidated:
                try:
                    conn = self._writer_conn = self._writer.connect()
                except SQLAlchemyError as e:
                    raise RegistryError(f"registry failure: {e}") from e
            with self._write_lock:  # held until the transaction has ended
                try:
                    conn.begin()
                    yield UnitOfWork(conn)
                except SQLAlchemyError as e:
                    raise RegistryError(f"registry failure: {e}") from e
                finally:
                    try:
                        if conn.in_transaction():
                            conn.rollback()
                    except SQLAlchemyError:
                        conn.invalidate()

    def pool_use(self) -> tuple[int, int]:
        """Connections checked out of the pool now, and the pool's size (operators' metrics;
        (0, 0) for a pool that does not count, such as in-memory SQLite's)."""
        pool: Any = self.engine.pool
        try:
            return int(pool.checkedout()), int(pool.size())
        except (AttributeError, NotImplementedError):
            return 0, 0

    def upgrade(self) -> None:
        """Bring the schema up to date (Alembic ``upgrade head``)."""
        from elicence.registry.migrate import upgrade

        upgrade(self.engine)

    def dispose(self) -> None:
        if self._checkpoints is not None:
            self._checkpoints.close()
        if self._group is not None:
            self._group.close()
        with self._writer_lock:
            if self._writer_conn is not None:
                self._writer_conn.close()
                self._writer_conn = None
        self.engine.dispose()

    @contextmanager
    def unit_of_work(self) -> Iterator[UnitOfWork]:
        """A write transaction; what is not committed is rolled back."""
        if self._checkpoints is not None:
            self._checkpoints.start()
        try:
            with self._write_lock, self._writer.connect() as conn:
                conn.begin()
                yield UnitOfWork(conn)
        except SQLAlchemyError as e:
            raise RegistryError(f"registry failure: {e}") from e
        except UnicodeEncodeError as e:  # a driver's own encoding (PostgreSQL's COPY): rolled back
            raise unstorable() from e

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return str(self.engine.dialect.name)

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A connection for one read statement (no BEGIN on SQLite: it sees one WAL snapshot)."""
        try:
            with self._reader.connect() as conn:
                yield conn
        except SQLAlchemyError as e:
            raise RegistryError(f"registry failure: {e}") from e

    @contextmanager
    def snapshot(self) -> Iterator[Connection]:
        """A read transaction for several statements that must see one state."""
        try:
            with self.engine.connect() as conn:
                yield conn
        except SQLAlchemyError as e:
            raise RegistryError(f"registry failure: {e}") from e

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A small write transaction (``BEGIN IMMEDIATE`` on SQLite), committed when the block
        ends. An :class:`IntegrityError` is left for the caller (in ``registry/``) to turn into
        the error it means; any other database failure becomes a :class:`RegistryError`."""
        try:
            with self._write_lock, self._writer.begin() as conn:
                yield conn
        except IntegrityError:
            raise
        except SQLAlchemyError as e:
            raise RegistryError(f"registry failure: {e}") from e

    @contextmanager
    def writing(self) -> Iterator[Connection]:
        """A connection with a write transaction begun, for a unit of work of its own (it
        commits; what it does not commit is rolled back)."""
        if self._checkpoints is not None:
            self._checkpoints.start()
        try:
            with self._write_lock, self._writer.connect() as conn:
                conn.begin()
                yield conn
        except IntegrityError:
            raise
        except SQLAlchemyError as e:
            raise RegistryError(f"registry failure: {e}") from e


class DriverQuery:
    """A Core ``SELECT`` compiled once per dialect and run on the driver's own cursor: the
    statement's SQL text and its columns' type conversions are SQLAlchemy's, its work per
    execution is not (about 80 µs of a verification's 100 µs read on SQLite, issue 20). For
    the hot path's one-row reads only: ``first`` returns the first row, converted, or None.
    A driver error becomes a :class:`RegistryError` and the connection is dropped."""

    def __init__(self, statement: Any) -> None:
        self._statement = statement
        self._by_dialect: dict[str, tuple[Any, ...]] = {}
        self._guard = threading.Lock()

    def _compiled(self, dialect: Any) -> tuple[Any, ...]:
        found = self._by_dialect.get(dialect.name)
        if found is None:
            with self._guard:
                compiled = self._statement.compile(dialect=dialect)
                binds = {
                    name: bind.type.dialect_impl(dialect).bind_processor(dialect)
                    for name, bind in compiled.binds.items()
                }
                results = [
                    column.type.dialect_impl(dialect).result_processor(dialect, None)
                    for column in self._statement.selected_columns
                ]
                found = (compiled, compiled.string, compiled.positiontup, binds, results)
                self._by_dialect[dialect.name] = found
        return found

    def first(self, conn: Connection, params: dict[str, Any]) -> tuple[Any, ...] | None:
        compiled, sql, order, binds, results = self._compiled(conn.dialect)
        values = compiled.construct_params(params)
        for name, process in binds.items():
            if process is not None and name in values:
                values[name] = process(values[name])
        args: Any = [values[name] for name in order] if order else values
        try:
            cursor = conn.connection.cursor()
            try:
                cursor.execute(sql, args)
                row = cursor.fetchone()
            finally:
                cursor.close()
        except conn.dialect.loaded_dbapi.Error as e:
            conn.invalidate()
            raise RegistryError(f"registry failure: {e}") from e
        if row is None:
            return None
        return tuple(v if f is None else f(v) for f, v in zip(results, row, strict=True))


def _alive(conn: Connection) -> bool:
    if conn.dialect.name != "postgresql":
        return True
    from elicence.registry.pgcopy import is_alive

    return is_alive(conn)


def _sqlite_pragmas(engine: Engine) -> None:
    """WAL, a busy timeout, and BEGIN IMMEDIATE for write transactions (no upgrade deadlocks)."""

    @event.listens_for(engine, "connect")
    def _connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we emit BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        # Checkpoints run in the background (Database._checkpoints); this is the safety net.
        cur.execute(f"PRAGMA wal_autocheckpoint={WAL_SAFETY_PAGES}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute(f"PRAGMA busy_timeout={BUSY_SECONDS * 1000}")
        cur.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        options = conn.get_execution_options()
        if options.get("elicence_read_one", False):
            return  # one SELECT: autocommit mode already gives it a consistent WAL snapshot
        conn.exec_driver_sql("BEGIN IMMEDIATE" if options.get("elicence_write", False) else "BEGIN")

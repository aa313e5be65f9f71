"""Transactions of the RDB storage and their retries (private).

A transaction body is a function of one :class:`sqlalchemy.Connection`. :class:`Transactions`
runs it in a transaction of its own and runs it again, after a backoff, when the database
reports a transient failure (a deadlock, a serialization failure, "database is locked", a lost
connection, a write refused by a server that became read-only), until a time limit.

A failover is a lost connection plus a new address: the retry opens a new connection, which a
URL of several hosts (see :mod:`_hosts`) lets libpq make to whichever server now takes
writes, and the pool's other connections to the old server are dropped. A commit cut off by
the loss may or may not have reached the new primary, so it follows the same rules as any
lost COMMIT (:class:`AmbiguousCommit`, ``idempotent``, :class:`Runs`).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Any, TypeAlias, TypeVar

import sqlalchemy as sa
from sqlalchemy import exc

from trialstore.exceptions import StorageInternalError
from trialstore.storage._backoff import Backoff
from trialstore.storage.rdb import _driver, _engine
from trialstore.storage.rdb._engine import TxMode

__all__ = [
    "AmbiguousCommit",
    "Body",
    "Runs",
    "Transactions",
    "commit",
    "retry_conflicts",
    "roll_back",
]

_T = TypeVar("_T")

#: A transaction body: what :meth:`Transactions.run` runs on one connection.
Body: TypeAlias = Callable[[sa.Connection], _T]


class AmbiguousCommit(Exception):
    """The connection was lost while committing: the transaction may or may not be durable.
    ``__cause__`` holds the database error."""


class Runs:
    """Counts the runs of one call's transaction body (:meth:`Transactions.run` repeats it
    after transient failures). From the second run on, an earlier one may have taken effect
    before its connection was lost, so a body that finds its write impossible must tell its
    own earlier effect from another process's."""

    __slots__ = ("count",)

    def __init__(self) -> None:
        self.count = 0

    def start(self) -> bool:
        """Count a run; return whether it repeats an earlier one."""
        self.count += 1
        return self.count > 1


def roll_back(connection: sa.Connection) -> None:
    """End the transaction an error left open, before the connection goes back to the pool;
    a connection that cannot is invalidated (never reused)."""
    if connection.invalidated:
        return
    try:
        connection.exec_driver_sql("ROLLBACK")
    except exc.DBAPIError:
        connection.invalidate()


def commit(send_commit: Callable[[], object]) -> None:
    """Run ``send_commit``.

    Raises:
        AmbiguousCommit: the connection was lost while committing (the transaction may or
            may not have been committed).
        sqlalchemy.exc.DBAPIError: any other database error.
    """
    try:
        send_commit()
    except exc.DBAPIError as e:
        if _engine.classify_error(e) == "disconnect":
            raise AmbiguousCommit() from e
        raise


def retry_conflicts(
    action: Callable[[], None], retry_timeout: float, *, disconnects: bool = False
) -> None:
    """Run ``action``, again after a backoff while it raises a lock conflict (see
    :func:`_engine.classify_error`), and with ``disconnects`` also while it cannot reach a
    server that takes writes, for up to ``retry_timeout`` seconds.

    Raises:
        sqlalchemy.exc.DBAPIError: any other database error at once; a retried one after
            ``retry_timeout`` seconds.
    """
    retried = {"conflict", "disconnect"} if disconnects else {"conflict"}
    backoff = Backoff(retry_timeout)
    while True:
        try:
            action()
            return
        except exc.DBAPIError as e:
            if _engine.classify_error(e) not in retried or not backoff.pause():
                raise


class Transactions:
    """Runs transaction bodies on ``engine`` (made by :func:`_engine.create_engine`).

    ``shown_url`` names the database in error messages (password masked). With ``serialize``
    (an in-memory SQLite database: one connection), one transaction runs at a time. Safe for
    many threads; in a forked child, the first run drops the parent's pooled connections.
    """

    def __init__(
        self, engine: sa.Engine, *, shown_url: str, retry_timeout: float, serialize: bool
    ) -> None:
        self._engine = engine
        self._shown_url = shown_url
        self._retry_timeout = retry_timeout
        self._serialize = serialize
        self._serial = threading.RLock()
        self._pid = os.getpid()

    def run(
        self, body: Callable[[sa.Connection], _T], *, mode: TxMode, idempotent: bool = True
    ) -> _T:
        """Run ``body`` in one transaction, retrying transient failures with backoff; return
        what it returns.

        ``mode``: ``"none"`` for a body of one statement (autocommit: atomic by itself, no
        BEGIN/COMMIT round trips), ``"read"`` for several reads from one snapshot, ``"write"``
        for a transaction that writes. ``idempotent``: whether running ``body`` again after a
        commit cut off by a lost connection is harmless. A :class:`_driver.Statement` (mode
        ``"none"``) goes from the pool's DBAPI connection straight to the driver where
        :func:`_driver.direct_engine` allows.

        Raises:
            StorageInternalError: still failing after ``retry_timeout`` seconds, or a commit of
                a body that is not idempotent was cut off (its outcome is unknown).
            Exception: what ``body`` raises, other than transient database errors.
        """
        self._check_fork()
        if (
            mode == "none"
            and isinstance(body, _driver.Statement)
            and not self._serialize
            and _driver.direct_engine(self._engine)
        ):
            statement: _driver.Statement[_T] = body
            return self._run_statement(statement, idempotent)
        return self._retrying(lambda: self._attempt(body, mode), idempotent)

    def _run_statement(self, body: _driver.Statement[_T], idempotent: bool) -> _T:
        """:meth:`run` of a statement sent from the pool's DBAPI connection; a SQLAlchemy
        connection is opened only when it wrote nothing (to tell why)."""

        def attempt() -> Any:
            body.attempts += 1
            return _driver.run(self._engine, body)

        result = self._retrying(attempt, idempotent)
        if body.written(result):
            return body.value(result)
        again = body.attempts > 1
        return self._retrying(
            lambda: self._attempt(lambda c: body.not_written(c, again), "none"), True
        )

    def _retrying(self, attempt: Callable[[], _T], idempotent: bool) -> _T:
        """Run ``attempt`` until it does not fail transiently (see :meth:`run`)."""
        backoff = Backoff(self._retry_timeout)
        while True:
            try:
                return attempt()
            except AmbiguousCommit as e:
                _engine.drop_pooled_connections(self._engine)
                if not idempotent:
                    raise StorageInternalError(
                        f"the connection to {self._shown_url!r} was lost while committing; the "
                        "operation may or may not have taken effect."
                    ) from e.__cause__
                error: BaseException = e.__cause__ or e
            except exc.DBAPIError as e:
                kind = _engine.classify_error(e)
                if kind is None:
                    raise
                if kind == "disconnect":
                    _engine.drop_pooled_connections(self._engine)
                error = e
            if not backoff.pause():
                raise StorageInternalError(
                    f"storage {self._shown_url!r}: giving up after retrying for "
                    f"{self._retry_timeout:.0f} s: {' '.join(str(error).split())[:300]}"
                ) from None

    def _check_fork(self) -> None:
        if os.getpid() != self._pid:
            # A forked child must not use the parent's pooled connections, nor a lock a
            # thread it does not have may hold.
            self._engine.dispose(close=False)
            self._serial = threading.RLock()
            self._pid = os.getpid()

    def _attempt(self, body: Callable[[sa.Connection], _T], mode: TxMode) -> _T:
        token = _engine.TX_MODE.set(mode)
        try:
            if self._serialize:
                with self._serial:
                    return self._transaction(body, mode)
            return self._transaction(body, mode)
        finally:
            _engine.TX_MODE.reset(token)

    def _transaction(self, body: Callable[[sa.Connection], _T], mode: TxMode) -> _T:
        with self._engine.connect() as connection:
            try:
                result = body(connection)
            except BaseException:
                if mode != "none":
                    roll_back(connection)
                raise
            if mode != "none":
                commit(connection.commit)
            return result

"""Logging of trialstore, with the public names of Optuna's ``optuna.logging``.

Every trialstore logger is a child of the library root logger ``"trialstore"``. Unless the
default handler is disabled, that root logger writes to ``sys.stderr`` in Optuna's format,
``[I 2025-06-03 14:07:45,306] message`` (level initial, then ``asctime``), at level INFO.
All functions here are thread-safe.
"""

from __future__ import annotations

import logging
import sys
import threading
from logging import CRITICAL, DEBUG, ERROR, FATAL, INFO, WARN, WARNING

__all__ = [
    "CRITICAL",
    "DEBUG",
    "ERROR",
    "FATAL",
    "INFO",
    "WARN",
    "WARNING",
    "create_default_formatter",
    "disable_default_handler",
    "disable_propagation",
    "enable_default_handler",
    "enable_propagation",
    "get_logger",
    "get_verbosity",
    "set_verbosity",
]

_LIBRARY_NAME = "trialstore"
_lock = threading.Lock()
_default_handler: logging.Handler | None = None


def create_default_formatter() -> logging.Formatter:
    """Return the formatter of the default handler: ``[%(levelname)1.1s %(asctime)s] msg``."""
    return logging.Formatter("[%(levelname)1.1s %(asctime)s] %(message)s")


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A stream handler that writes to whatever ``sys.stderr`` is at each record."""

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)


def _root_logger() -> logging.Logger:
    return logging.getLogger(_LIBRARY_NAME)


def _configure_root_logger() -> None:
    global _default_handler
    with _lock:
        if _default_handler is not None:
            return
        _default_handler = _StderrHandler(sys.stderr)
        _default_handler.setFormatter(create_default_formatter())
        root = _root_logger()
        root.addHandler(_default_handler)
        root.setLevel(logging.INFO)
        root.propagate = False


def get_logger(name: str) -> logging.Logger:
    """Return the logger ``name`` (a child of the ``trialstore`` logger), configuring the
    library root logger on first use."""
    _configure_root_logger()
    return logging.getLogger(name)


def get_verbosity() -> int:
    """Return the level of the library root logger (e.g. :data:`INFO`)."""
    _configure_root_logger()
    return _root_logger().getEffectiveLevel()


def set_verbosity(verbosity: int) -> None:
    """Set the level of the library root logger: messages below it are dropped."""
    _configure_root_logger()
    _root_logger().setLevel(verbosity)


def disable_default_handler() -> None:
    """Stop writing log records to stderr through the default handler."""
    _configure_root_logger()
    assert _default_handler is not None
    _root_logger().removeHandler(_default_handler)


def enable_default_handler() -> None:
    """Write log records to stderr through the default handler again."""
    _configure_root_logger()
    assert _default_handler is not None
    _root_logger().addHandler(_default_handler)


def disable_propagation() -> None:
    """Stop passing the library's records to the Python root logger (the default)."""
    _configure_root_logger()
    _root_logger().propagate = False


def enable_propagation() -> None:
    """Pass the library's records on to the Python root logger's handlers too."""
    _configure_root_logger()
    _root_logger().propagate = True

"""Journal storage URLs (private; used through ``trialstore.storage.get_storage``).

* ``journal:///absolute/path.log``: a journal file;
* ``journal+redis://[[user]:password@]host[:port][/db][?prefix=NAME]``: a Redis journal
  (port 6379 and database 0 by default).
"""

from __future__ import annotations

import urllib.parse
from typing import Any

from trialstore.storage._url import mask_password
from trialstore.storage.journal._base import BaseJournalBackend
from trialstore.storage.journal._storage import JournalStorage

__all__ = ["backend_from_url", "storage_from_url"]

_REDIS_FORM = "journal+redis://[[user]:password@]HOST[:PORT][/DB][?prefix=NAME]"


def backend_from_url(url: str, *, create: bool = True) -> BaseJournalBackend:
    """Return the journal backend that a ``journal://`` or ``journal+redis://`` URL names.

    With ``create=False`` the journal must exist already, and nothing is created.

    Raises:
        ValueError: another scheme, a relative file path, unknown query parameters, or in a
            ``journal+redis://`` URL no host, a port outside 1-65535 or a database that is
            not a non-negative integer (see
            :func:`~trialstore.storage.journal._redis.check_redis_url`); raised before
            anything is opened or connected.
        StorageNotFoundError: ``create`` is False and there is no journal at the URL.
    """
    scheme, sep, rest = url.partition("://")
    scheme = scheme.lower()
    if scheme == "journal" and sep:
        if not rest.startswith("/"):
            raise ValueError(
                f"journal URL {url!r} must hold an absolute path: journal:///absolute/path.log"
            )
        from trialstore.storage.journal._file import JournalFileBackend

        return JournalFileBackend(urllib.parse.unquote(rest), create=create)
    if scheme == "journal+redis" and sep:
        from trialstore.storage.journal._redis import JournalRedisBackend, check_redis_url

        shown = mask_password(url)
        try:
            parts = urllib.parse.urlsplit("redis://" + rest)
        except ValueError as e:  # an unclosed "[" of an IPv6 address
            raise ValueError(f"storage URL {shown!r}: {e}; expected {_REDIS_FORM}.") from None
        query = urllib.parse.parse_qs(parts.query, keep_blank_values=True)
        unknown = sorted(set(query) - {"prefix"})
        if unknown:
            raise ValueError(f"journal+redis URL: unknown parameters {unknown}; allowed: prefix.")
        if not parts.hostname:
            raise ValueError(f"storage URL {shown!r}: no host; expected {_REDIS_FORM}.")
        redis_url = urllib.parse.urlunsplit(parts._replace(query=""))
        check_redis_url(redis_url, shown=url, form=_REDIS_FORM)
        return JournalRedisBackend(redis_url, prefix=query.get("prefix", [""])[-1], create=create)
    raise ValueError(f"not a journal URL: {url!r} (journal:///path or journal+redis://...)")


def storage_from_url(url: str, *, create: bool = True, **kwargs: Any) -> JournalStorage:
    """Return a :class:`JournalStorage` on the URL's backend; ``kwargs`` go to its constructor.

    Raises:
        ValueError, StorageNotFoundError: as :func:`backend_from_url`.
    """
    return JournalStorage(backend_from_url(url, create=create), **kwargs)

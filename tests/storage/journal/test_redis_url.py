"""Redis journal URLs (trialstore/storage/journal/_url.py and the URL check of _redis.py): a
database index that is not a non-negative integer, a port outside 1-65535 or a missing host is
a ValueError before anything connects; what redis-py takes sensibly still works.

No server needed: the bad URLs point at 127.0.0.1 port 1, where nothing listens, so a URL that
got past the check would fail with a connection error instead of the ValueError.
"""

from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip("redis")

from trialstore.storage import get_storage
from trialstore.storage.journal import JournalRedisBackend


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("journal+redis://127.0.0.1:1/notanint", r"database 'notanint' is not a non-negative"),
        ("journal+redis://127.0.0.1:1/-1", r"database '-1' is not a non-negative integer"),
        ("journal+redis://127.0.0.1:1/1/2", r"database '1/2' is not a non-negative integer"),
        ("journal+redis://127.0.0.1:1/%201", r"database '%201' is not a non-negative integer"),
        ("journal+redis://127.0.0.1:70000/0", r"port '70000' is not an integer from 1 to 65535"),
        ("journal+redis://127.0.0.1:0/0", r"port '0' is not an integer from 1 to 65535"),
        ("journal+redis://127.0.0.1:abc/0", r"port 'abc' is not an integer from 1 to 65535"),
        ("journal+redis://127.0.0.1:/0", r"port '' is not an integer from 1 to 65535"),
        ("journal+redis://", r"no host; expected journal\+redis://"),
        ("journal+redis:///0?prefix=p", r"no host; expected journal\+redis://"),
        ("journal+redis://:1/0", r"no host; expected journal\+redis://"),
        ("journal+redis://[::1/0", r"Invalid IPv6 URL"),
    ],
)
def test_bad_journal_redis_urls_are_value_errors(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as info:
        get_storage(url)
    assert "journal+redis://" in str(info.value)  # the URL as the user wrote it


def test_the_password_is_masked_in_the_error() -> None:
    with pytest.raises(ValueError, match="database 'x'") as info:
        get_storage("journal+redis://user:s3cret@127.0.0.1:1/x?prefix=p")
    assert "s3cret" not in str(info.value) and "user:***@" in str(info.value)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("redis://127.0.0.1:1/notanint", r"database 'notanint' is not a non-negative integer"),
        ("redis://127.0.0.1:1?db=-2", r"database '-2' is not a non-negative integer"),
        ("redis://127.0.0.1:1/1?db=2", r"the database is given more than once"),
        ("unix:///tmp/redis.sock?db=x", r"database 'x' is not a non-negative integer"),
        ("redis://127.0.0.1:70000/0", r"port '70000' is not an integer from 1 to 65535"),
        ("http://127.0.0.1:1/0", r"scheme must be redis://, rediss:// or unix://"),
    ],
)
def test_the_backend_checks_its_redis_url(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        JournalRedisBackend(url)


@pytest.mark.parametrize(
    ("url", "db"),
    [
        ("redis://127.0.0.1:1", None),
        ("redis://127.0.0.1:1/", None),
        ("redis://127.0.0.1:1/0", 0),
        ("redis://127.0.0.1:1/15/", 15),
        ("redis://127.0.0.1:1?db=3", 3),
        ("rediss://u:pw@127.0.0.1:1/2", 2),
        ("redis://[::1]:1/4", 4),
        ("redis:///5", 5),
        ("unix:///tmp/redis.sock?db=2", 2),
    ],
)
def test_valid_redis_urls_keep_their_meaning(url: str, db: Any) -> None:
    backend = JournalRedisBackend(url)  # connects on first use only
    assert backend._redis.connection_pool.connection_kwargs.get("db") == db
    backend.close()


def test_a_valid_journal_redis_url_keeps_its_database_and_prefix() -> None:
    from trialstore.storage.journal._url import backend_from_url

    backend = backend_from_url("journal+redis://u:pw@127.0.0.1:1/7?prefix=p")
    assert isinstance(backend, JournalRedisBackend)
    assert backend.prefix == "p"
    kwargs = backend._redis.connection_pool.connection_kwargs
    assert (kwargs["host"], kwargs["port"], kwargs["db"], kwargs["password"]) == (
        "127.0.0.1",
        1,
        7,
        "pw",
    )
    backend.close()

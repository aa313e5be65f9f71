"""Database URLs and first-connection errors of RDBStorage (trialstore/storage/rdb/_engine.py):
what the drivers would guess is a ValueError before any connection (no database name, a port
out of range, a SQLite file in the host part, an option the driver does not take), and a failed
first connection names its real cause.

Most bad URLs point at 127.0.0.1 port 1, where nothing listens: a URL that got past the checks
fails with a connection error (StorageInternalError) instead of the ValueError, so these tests
need no server. The tests with a server check that nothing was created in it.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
import sqlalchemy as sa

from trialstore.exceptions import StorageInternalError
from trialstore.storage import get_storage
from trialstore.storage.rdb import RDBStorage
from trialstore.storage.rdb._engine import normalize_url
from trialstore.study import StudyDirection

MIN = [StudyDirection.MINIMIZE]

# -- no database name --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://",
        "postgres://postgres@localhost",
        "postgresql+psycopg://postgres@127.0.0.1:5432/",
        "mysql://root@127.0.0.1:3306",
        "mariadb://root@127.0.0.1:3306/",
    ],
)
def test_a_server_url_without_a_database_is_refused(url: str) -> None:
    scheme = url.partition("://")[0]
    with pytest.raises(ValueError, match="no database name") as info:
        normalize_url(url)
    assert f"expected {scheme}://user@host[:port]/DATABASE" in str(info.value)
    assert repr(url) in str(info.value)


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://postgres@127.0.0.1:1",
        "postgresql://postgres@127.0.0.1:1/",
        "mysql+pymysql://root@127.0.0.1:1",
        "mysql+pymysql://root@127.0.0.1:1/",
    ],
)
def test_no_database_is_refused_before_connecting(url: str) -> None:
    with pytest.raises(ValueError, match="no database name"):
        RDBStorage(url)


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://postgres@127.0.0.1:1/?dbname=db",
        "postgresql://postgres@127.0.0.1:1?service=nosuchservice",
        "mysql+pymysql://root@127.0.0.1:1/?database=db",
    ],
)
def test_a_database_named_in_the_query_is_accepted(url: str) -> None:
    # Gets past the URL checks to the connection, which nothing answers.
    with pytest.raises(StorageInternalError):
        RDBStorage(url)


# -- ports -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "port"),
    [
        ("postgresql://postgres@127.0.0.1:70000/db", "70000"),
        ("postgresql://postgres@127.0.0.1:0/db", "0"),
        ("postgresql://postgres@127.0.0.1:-1/db", "-1"),
        ("postgresql://postgres@127.0.0.1:abc/db", "'abc'"),
        ("mysql+pymysql://root@127.0.0.1:99999/db", "99999"),
    ],
)
def test_a_port_outside_1_to_65535_is_refused(url: str, port: str) -> None:
    with pytest.raises(ValueError, match=rf"port {port} is not an integer from 1 to 65535"):
        RDBStorage(url)


# -- SQLite ------------------------------------------------------------------------------------


@pytest.mark.parametrize("url", ["sqlite://x.db", "sqlite://user@/x.db", "sqlite://h:5/x.db"])
def test_a_sqlite_file_in_the_host_part_is_one_clear_value_error(
    url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match="names no SQLite file") as info:
        RDBStorage(url)
    assert "sqlite:///relative.db or sqlite:////absolute.db" in str(info.value)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:"])
def test_in_memory_sqlite_urls_still_work(
    url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    storage = get_storage(url)
    storage.create_new_study(MIN, "m")
    assert [s.study_name for s in storage.get_all_studies()] == ["m"]
    storage.close()
    assert list(tmp_path.iterdir()) == []


def test_an_unknown_sqlite_option_is_refused_before_the_file_is_made(tmp_path: Path) -> None:
    database = tmp_path / "x.db"
    with pytest.raises(ValueError, match="unknown connection option 'bogus' in the URL") as info:
        RDBStorage(f"sqlite:///{database}?bogus=1")
    assert "timeout" in str(info.value)  # the options the driver takes
    assert not database.exists()
    storage = RDBStorage(f"sqlite:///{database}?timeout=5")  # a known one still works
    storage.close()


def test_sqlite_uri_parameters_are_left_to_sqlite(tmp_path: Path) -> None:
    database = tmp_path / "x.db"
    RDBStorage(f"sqlite:///{database}").close()
    storage = RDBStorage(f"sqlite:///file:{database}?uri=true&mode=rw")
    assert storage.get_all_studies() == []
    storage.close()


def _refused(url: str) -> str:
    with pytest.raises(StorageInternalError) as info:
        RDBStorage(url)
    text = str(info.value)
    assert "database server" not in text and "localhost" not in text
    return text


def test_a_sqlite_path_that_is_a_directory_says_so(tmp_path: Path) -> None:
    text = _refused(f"sqlite:///{tmp_path}")
    assert f"cannot open SQLite database file {tmp_path}: it is a directory" in text


def test_a_sqlite_path_in_a_missing_directory_says_so(tmp_path: Path) -> None:
    text = _refused(f"sqlite:///{tmp_path / 'nodir' / 'x.db'}")
    assert f"its directory {tmp_path / 'nodir'} does not exist" in text
    assert not (tmp_path / "nodir").exists()


def test_a_relative_sqlite_path_is_shown_absolute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    text = _refused("sqlite:///nodir/x.db")
    assert f"its directory {tmp_path / 'nodir'} does not exist" in text


def test_a_file_that_is_not_a_sqlite_database_says_so(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("not a database " * 100)
    text = _refused(f"sqlite:///{path}")
    assert f"cannot open SQLite database file {path}: it is not a SQLite database" in text
    assert path.read_text() == "not a database " * 100


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads and writes any file")
def test_a_sqlite_file_without_permission_says_so(tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    RDBStorage(f"sqlite:///{path}").close()
    path.chmod(0o200)
    try:
        text = _refused(f"sqlite:///{path}")
    finally:
        path.chmod(0o600)
    assert "no permission to read it" in text


# -- driver options ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://postgres@127.0.0.1:1/db?bogus=1",
        "postgresql+psycopg://postgres@127.0.0.1:1/db?sslmode=disable&bogus=1",
        "mysql+pymysql://root@127.0.0.1:1/db?bogus=1",
    ],
)
def test_an_unknown_server_option_is_refused_before_connecting(url: str) -> None:
    # psycopg used to fail the connection with "is the server running", PyMySQL with a
    # TypeError.
    with pytest.raises(ValueError, match="unknown connection option 'bogus' in the URL"):
        RDBStorage(url)


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://postgres@127.0.0.1:1/db?sslmode=disable&connect_timeout=3",
        "mysql+pymysql://root@127.0.0.1:1/db?connect_timeout=3&read_timeout=5&local_infile=0",
    ],
)
def test_known_server_options_are_accepted(url: str) -> None:
    with pytest.raises(StorageInternalError):  # past the checks, to the refused connection
        RDBStorage(url)


def test_an_unknown_connect_arg_is_named_in_the_connection_error() -> None:
    with pytest.raises(StorageInternalError) as info:
        RDBStorage(
            "postgresql://postgres@127.0.0.1:1/db",
            engine_kwargs={"connect_args": {"bogus": "1"}},
        )
    text = str(info.value)
    assert "unknown connection option 'bogus'" in text
    assert "is running" not in text


# -- with servers: nothing is created ----------------------------------------------------------


def _tables(url: str) -> list[str]:
    engine = sa.create_engine(url)
    try:
        return sorted(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()


@pytest.mark.postgresql
def test_postgresql_options_are_checked_before_anything_is_created(postgres_url: str) -> None:
    with pytest.raises(ValueError, match="unknown connection option 'bogus'"):
        RDBStorage(f"{postgres_url}?bogus=1")
    assert _tables(postgres_url) == []
    storage = RDBStorage(f"{postgres_url}?connect_timeout=10&application_name=ts")
    assert storage.get_all_studies() == []
    storage.close()


@pytest.mark.mysql
def test_mysql_options_are_checked_before_anything_is_created(mysql_url: str) -> None:
    with pytest.raises(ValueError, match="unknown connection option 'bogus'"):
        RDBStorage(f"{mysql_url}?bogus=1")
    assert _tables(mysql_url) == []
    storage = RDBStorage(f"{mysql_url}?connect_timeout=10")
    assert storage.get_all_studies() == []
    storage.close()


@pytest.mark.postgresql
def test_a_missing_postgresql_database_keeps_its_hint(postgres_url: str) -> None:
    url = sa.engine.make_url(postgres_url).set(database="ts_no_such_database")
    with pytest.raises(StorageInternalError) as info:
        RDBStorage(url.render_as_string(hide_password=False))
    assert "create the database 'ts_no_such_database' first" in str(info.value)


@pytest.mark.mysql
def test_a_missing_mysql_database_keeps_its_hint(mysql_url: str) -> None:
    url = sa.engine.make_url(mysql_url).set(database="ts_no_such_database")
    with pytest.raises(StorageInternalError) as info:
        RDBStorage(url.render_as_string(hide_password=False))
    assert "create the database 'ts_no_such_database' first" in str(info.value)


def test_a_sqlite_file_without_permission_is_named_from_the_file_system(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The permission hints, decided from ``os.access`` (the test above cannot run as root)."""
    from trialstore.storage.rdb import _engine

    path = tmp_path / "x.db"
    path.write_bytes(b"")
    url = sa.engine.make_url(f"sqlite:///{path}")
    error = Exception("attempt to write a readonly database")
    denied: set[tuple[str, int]] = set()
    real_access = os.access
    monkeypatch.setattr(  # the os module _engine uses
        os, "access", lambda p, mode: (str(p), mode) not in denied and real_access(p, mode)
    )
    cases = [
        ((str(path), os.R_OK), "no permission to read it"),
        ((str(path), os.W_OK), "no permission to write it"),
        (
            (str(tmp_path), os.W_OK | os.X_OK),
            f"no permission to write in its directory {tmp_path}",
        ),
    ]
    for denial, hint in cases:
        denied.clear()
        denied.add(denial)
        text = str(_engine.connection_error(url, error))
        assert f"cannot open SQLite database file {path}: {hint}" in text
    denied.clear()
    denied.add((str(tmp_path), os.W_OK | os.X_OK))
    missing = sa.engine.make_url(f"sqlite:///{tmp_path / 'new.db'}")
    assert f"no permission to create it in {tmp_path}" in str(
        _engine.connection_error(missing, error)
    )


# -- several PostgreSQL hosts ------------------------------------------------------------------


def _libpq_args(url: str) -> dict[str, object]:
    """What psycopg receives for ``url`` (through SQLAlchemy's dialect), without connecting."""
    normalized = normalize_url(url)
    engine = sa.create_engine(normalized)
    try:
        _, kwargs = engine.dialect.create_connect_args(normalized)
    finally:
        engine.dispose()
    return {k: v for k, v in kwargs.items() if k != "context"}


@pytest.mark.parametrize(
    "url",
    [
        "postgresql+psycopg://u@/db?host=h1:5432,h2:5433",
        "postgresql+psycopg://u@/db?host=h1:5432&host=h2:5433",
        "postgresql+psycopg://u@/db?host=h1,h2&port=5432,5433",
        "postgresql+psycopg://u@h1:5432,h2:5433/db",
        "postgresql://u@h1:5432,h2:5433/db",
    ],
)
def test_every_form_of_several_hosts_reaches_libpq_as_host_and_port_lists(url: str) -> None:
    # host=h1:5432,h2:5433 used to reach libpq as the host names "h1:5432" and "h2:5433",
    # and the URI form was refused as a bad port.
    args = _libpq_args(url)
    assert args["host"] == "h1,h2"
    assert args["port"] == "5432,5433"
    assert args["dbname"] == "db" and args["user"] == "u"
    # a failover URL: only the writable server takes the connection; a dead host is given up
    assert args["target_session_attrs"] == "read-write"
    assert args["connect_timeout"] == "10"


def test_settings_in_a_url_of_several_hosts_are_kept() -> None:
    args = _libpq_args(
        "postgresql://u:pw@/db?host=h1,h2&target_session_attrs=primary&connect_timeout=3"
        "&application_name=ts"
    )
    assert args["target_session_attrs"] == "primary"
    assert args["connect_timeout"] == "3"
    assert args["application_name"] == "ts"
    assert args["password"] == "pw"


def test_ipv6_hosts_and_socket_directories_among_several_hosts() -> None:
    args = _libpq_args("postgresql://u@/db?host=[::1]:5432&host=/var/run/postgresql")
    assert args["host"] == "::1,/var/run/postgresql"
    assert args["port"] == "5432,"


def test_one_port_applies_to_every_host() -> None:
    assert _libpq_args("postgresql://u@/db?host=h1,h2&port=6000")["port"] == "6000,6000"


def test_a_single_host_url_is_left_as_it_was() -> None:
    args = _libpq_args("postgresql://u@h1:5432/db")
    assert (args["host"], args["port"]) == ("h1", 5432)
    assert "target_session_attrs" not in args and "connect_timeout" not in args


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("postgresql://u@/db?host=h1:70000,h2", "port '70000' is not an integer from 1 to 65535"),
        ("postgresql://u@h1:5432,h2:x/db", "port 'x' is not an integer from 1 to 65535"),
        ("postgresql://u@/db?host=h1,,h2", "an empty host"),
        ("postgresql://u@/db?host=h1,h2,h3&port=1,2", "3 hosts but 2 ports"),
        ("postgresql://u@/db?host=h1:1,h2:2&port=1,2", "ports given both in host="),
        ("postgresql://u@h0/db?host=h1,h2", "names hosts both before the path"),
        ("postgresql://u@/db?host=[::1:5432,h2", "is not [IPv6 address]"),
        ("postgresql://u@/db?host=h1,h2&target_session_attrs=standby", "take no writes"),
        ("postgresql://u@h1/db?target_session_attrs=read-only", "take no writes"),
    ],
)
def test_malformed_hosts_are_refused_before_connecting(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        RDBStorage(url)


def test_the_url_of_several_hosts_reads_as_written_and_masks_the_password() -> None:
    url = normalize_url("postgresql://u:secret@/db?host=h1:5432,h2:5433")
    from trialstore.storage.rdb import _engine

    text = _engine.masked(url)
    assert "secret" not in text
    assert "host=h1,h2" in text and "port=5432,5433" in text


def test_no_server_of_several_answering_names_them_all() -> None:
    with pytest.raises(StorageInternalError) as info:
        RDBStorage("postgresql://postgres@/db?host=127.0.0.1:1,127.0.0.1:2&connect_timeout=3")
    text = str(info.value)
    assert "one of the database servers at 127.0.0.1:1, 127.0.0.1:2" in text
    assert "takes writes" in text


@pytest.mark.postgresql
def test_a_url_of_several_hosts_connects_to_the_one_that_answers(postgres_url: str) -> None:
    """The first host refuses connections; libpq goes on to the second (the test server)."""
    url = sa.engine.make_url(postgres_url)
    several = (
        f"postgresql+psycopg://{url.username}@/{url.database}"
        f"?host=127.0.0.1:1,{url.host}:{url.port or 5432}"
    )
    storage = RDBStorage(several)
    study_id = storage.create_new_study(MIN, "several")
    assert storage.get_study_name_from_id(study_id) == "several"
    storage.close()
    # the copy a child process gets connects the same way
    import pickle

    copy = pickle.loads(pickle.dumps(RDBStorage(several)))
    assert copy.get_study_id_from_name("several") == study_id
    copy.close()

"""StressConfig.validate (trialstore/stress/_config.py): a wrong setting is a ValueError that
names the field, the value given and what is allowed, raised before a run starts anything."""

from __future__ import annotations

import math
import subprocess
from pathlib import Path
from typing import Any

import pytest

from trialstore.stress import StressConfig, run_stress

#: A wrong setting -> what the message must say.
WRONG = [
    ({"workers": 0}, "workers must be >= 1, got 0"),
    ({"workers": 2.5}, "workers must be an integer >= 1, got 2.5"),
    ({"hosts": 0}, "hosts must be between 1 and 60 (198.18.0.0/24 split in /30 links), got 0"),
    ({"duration": 0.0}, "duration must be a finite number of seconds > 0, got 0.0"),
    ({"duration": math.nan}, "duration must be a finite number of seconds > 0, got nan"),
    ({"trials_per_study": 0}, "trials_per_study must be >= 1, got 0"),
    ({"fault_every": -1.0}, "fault_every must be a finite number of seconds > 0, got -1.0"),
    ({"restart_every": 0}, "restart_every must be a finite number of seconds > 0, got 0"),
    ({"heartbeat_interval": -1.0}, "heartbeat_interval must be a finite number of seconds > 0 "
                                   "(None: heartbeats off), got -1.0"),
    ({"heartbeat_interval": None, "grace_period": 3.0},
     "grace_period needs heartbeats on, got grace_period 3.0 with heartbeat_interval None"),
    ({"think_time": -0.1}, "think_time must be a finite number of seconds >= 0, got -0.1"),
    ({"faults": ("kill", "meteor")}, "unknown fault 'meteor' in faults; known: kill, "),
    ({"faults": "kill"}, "faults must be a sequence of fault names, got the str 'kill'"),
    ({"storage": "stress-memory://nonsense"},
     "unknown stress-memory flaw 'nonsense' in storage; known: id-reuse, lost-write, no-lock, "
     "non-atomic-claim"),
    ({"storage": "nonsense://u:secret@h/db"},
     "unknown storage scheme 'nonsense' in storage 'nonsense://u:***@h/db'; known: "
     "stress-memory://, grpc://"),
    ({"mode": "sideways"}, "mode must be one of process, thread, got 'sideways'"),
    ({"restart_mode": "gentle"},
     "restart_mode must be one of real, sessions, fake, got 'gentle'"),
    ({"tier": "medium"}, "tier must be one of smoke, full, got 'medium'"),
    ({"serve_grpc": True}, "serve_grpc needs a storage URL to serve"),
    ({"mode": "thread", "hosts": 2}, "hosts 2 needs mode process"),
    ({"faults": ("failover",)}, "faults failover needs a PostgreSQL storage"),
    ({"storage": "sqlite:///x.db", "faults": ("failover",)},
     "faults failover needs a PostgreSQL storage"),
    ({"storage": "postgresql://u:secret@h:5432", "faults": ("failover",)},
     "faults failover needs a database name in storage (the harness creates it on its pair), "
     "got 'postgresql://u:***@h:5432'"),
    ({"storage": "postgresql://u@h/db", "faults": ("failover", "server-restart")},
     "faults failover and server-restart cannot be combined"),
    ({"storage": "postgresql://u@h/db", "faults": ("failover",), "serve_grpc": True},
     "faults failover cannot be combined with serve_grpc"),
    ({"storage": "postgresql://u@h/db", "faults": ("failover", "kill"), "mode": "thread"},
     "faults kill needs mode process"),
]  # fmt: skip


@pytest.mark.parametrize(("settings", "message"), WRONG)
def test_wrong_setting_names_field_value_and_allowed(
    settings: dict[str, Any], message: str
) -> None:
    config = StressConfig(**{"storage": "stress-memory://", **settings})
    with pytest.raises(ValueError) as info:
        config.validate()
    assert message in str(info.value)
    assert "secret" not in str(info.value)


def test_names_are_the_callers() -> None:
    """The command line names its options instead of the fields."""
    with pytest.raises(ValueError, match=r"^--trials-per-study must be >= 1, got 0$"):
        StressConfig("stress-memory://", trials_per_study=0).validate(
            lambda field: "--" + field.replace("_", "-")
        )


def test_correct_settings_pass() -> None:
    for storage in ("stress-memory://", "stress-memory://lost-write", "sqlite:///x.db",
                    "journal+redis://127.0.0.1:6379/0", "postgresql+psycopg://h/db"):  # fmt: skip
        StressConfig(storage, faults=("kill", "partition"), hosts=3).validate()
    StressConfig("stress-memory://", mode="thread", heartbeat_interval=None).validate()
    for mode in ("process", "thread"):  # a failover needs no worker process
        StressConfig("postgres://postgres@127.0.0.1/test", faults=("failover",),
                     mode=mode).validate()  # fmt: skip


def test_run_stress_starts_and_creates_nothing_for_a_wrong_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """workers=0 used to start a run of 0 workers: served store, report directory and all."""

    def no_process(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"a process was started: {args}")

    monkeypatch.setattr(subprocess, "Popen", no_process)
    report = tmp_path / "report"
    config = StressConfig("stress-memory://", workers=0, report_dir=str(report), progress=False)
    with pytest.raises(ValueError, match="workers must be >= 1, got 0"):
        run_stress(config)
    assert not report.exists()

"""The gRPC proxy client: the calls one trial sends on the wire, counted exactly in both
``param_writes`` modes (docs/performance.md, "Round trips per trial").

A trial of the bench's shape (5 float parameters, then ``tell``; and the same with 2
intermediate values reported) runs through the client in a study that already has trials.
Every call the client's transport sends is one unary RPC.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

import trialstore
from trialstore.storage import InMemoryStorage
from trialstore.storage.grpc import GrpcProxyServer, GrpcStorageProxy
from trialstore.storage.grpc._transport import ChannelTransport
from trialstore.trial import Trial

N_PARAMS = 5

#: (param_writes, intermediate values reported) -> the trial's calls, in order. The create
#: (or the ids of enqueued trials) is one call; the parameters one call each (immediate),
#: or one batch before the first report, or with the finish (at_tell).
CREATE = "CreateTrialOrListWaiting"
EXPECTED = {
    ("immediate", 0): [CREATE] + ["SetTrialParameter"] * N_PARAMS + ["SetTrialStateValues"],
    ("at_tell", 0): [CREATE, "SetTrialParamsAndStateValues"],
    ("immediate", 2): [CREATE]
    + ["SetTrialParameter"] * N_PARAMS
    + ["SetTrialIntermediateValue"] * 2
    + ["SetTrialStateValues"],
    ("at_tell", 2): [CREATE, "SetTrialParams"]
    + ["SetTrialIntermediateValue"] * 2
    + ["SetTrialStateValues"],
}


@pytest.fixture
def quiet() -> Iterator[None]:
    level = trialstore.logging.get_verbosity()
    trialstore.logging.set_verbosity(trialstore.logging.WARNING)
    yield
    trialstore.logging.set_verbosity(level)


def _objective(reports: int) -> Callable[[Trial], float]:
    def objective(trial: Trial) -> float:
        values = [trial.suggest_float(f"x{i}", -10.0, 10.0) for i in range(N_PARAMS)]
        for step in range(reports):
            trial.report(float(step), step)
        return float(sum((value - i) ** 2 for i, value in enumerate(values)))

    return objective


@pytest.mark.usefixtures("quiet")
def test_calls_of_one_trial(monkeypatch: pytest.MonkeyPatch) -> None:
    sent: list[str] = []
    call = ChannelTransport.call

    def counted(self: ChannelTransport, method: Any, *args: Any, **kwargs: Any) -> Any:
        sent.append(method.path.rsplit("/", 1)[-1])
        return call(self, method, *args, **kwargs)

    monkeypatch.setattr(ChannelTransport, "call", counted)
    counted_calls = {}
    with GrpcProxyServer(InMemoryStorage(), port=0) as server:
        client = GrpcStorageProxy(port=server.port)
        try:
            for mode, reports in EXPECTED:
                study = trialstore.create_study(
                    storage=client,
                    study_name=f"{mode}-{reports}",
                    sampler=trialstore.samplers.RandomSampler(seed=0),
                    param_writes=mode,  # type: ignore[arg-type]  # from EXPECTED
                )
                objective = _objective(reports)
                study.optimize(objective, n_trials=3)  # a study that has trials
                sent.clear()
                study.optimize(objective, n_trials=1)
                counted_calls[(mode, reports)] = list(sent)
                trial = study.trials[-1]
                assert len(trial.params) == N_PARAMS
                assert len(trial.intermediate_values) == reports
        finally:
            client.close()
    assert counted_calls == EXPECTED

"""The gRPC proxy client: the calls one trial sends on the wire, counted exactly in both
``param_writes`` modes (docs/performance.md, "Round trips per trial").

A trial of the bench's shape (5 float parameters, then ``tell``; and the same with 2
intermediate values reported) runs through the client in a study that already has trials.
Every call the client's transport sends is one unary RPC.
"""

from __future__ import annotations

from typing import Any

import pytest
from _one_trial import N_PARAMS, objective

import trialstore
from trialstore.storage import InMemoryStorage
from trialstore.storage.grpc import GrpcProxyServer, GrpcStorageProxy
from trialstore.storage.grpc._transport import ChannelTransport

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
                run_trial = objective(reports)
                study.optimize(run_trial, n_trials=3)  # a study that has trials
                sent.clear()
                study.optimize(run_trial, n_trials=1)
                counted_calls[(mode, reports)] = list(sent)
                trial = study.trials[-1]
                assert len(trial.params) == N_PARAMS
                assert len(trial.intermediate_values) == reports
        finally:
            client.close()
    assert counted_calls == EXPECTED

#!/usr/bin/env python3
"""Optuna's TPE (`optuna.samplers.TPESampler`) as an external nas strategy, through
Optuna's ask-and-tell interface.

Each gene of the space's encoding is a categorical parameter over its values; TPE
proposes a genome, nas confirms it is an architecture of the space (a `query`; chain
spaces have invalid genomes, which are told to Optuna as failed trials and re-asked, at no
cost to the budget), and the trial's fitness (validation accuracy) is told back; a
trial that does not rank is told as failed. The sampler is seeded with the seed nas gives
the run, so the same run proposes the same architectures (Optuna's TPE is deterministic
for a fixed seed and history).

    pip install optuna==5.0.0  # the version .ci/run tests with
    [[strategy]]
    kind = "external"
    name = "optuna-tpe"
    command = ["python3", "../examples/external/optuna_tpe.py"]   # relative to the config
    params = { n_startup_trials = 10 }                            # TPESampler keywords

`params` are passed to `TPESampler` (its defaults otherwise: n_startup_trials = 10,
n_ei_candidates = 24, gamma = min(ceil(0.1 n), 25), prior_weight = 1.0).
"""

import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "python"))
import nas_protocol  # noqa: E402

import optuna  # noqa: E402
from optuna.distributions import CategoricalDistribution  # noqa: E402
from optuna.trial import TrialState  # noqa: E402

MAX_INVALID = 10_000


class OptunaTPE(nas_protocol.Strategy):
    def init(self, space, params, seed, budget, run):
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        sampler = optuna.samplers.TPESampler(seed=seed % 2**32, **params)
        self.study = optuna.create_study(direction="maximize", sampler=sampler)
        self.names = [g["name"] for g in space["genes"]]
        self.distributions = {
            g["name"]: CategoricalDistribution(list(range(g["cardinality"])))
            for g in space["genes"]
        }
        self.in_flight = {}  # architecture text -> Optuna trials awaiting their result

    def ask(self):
        for _ in range(MAX_INVALID):
            trial = self.study.ask(self.distributions)
            genes = [trial.params[n] for n in self.names]
            answer = self.query(genes=genes)
            if answer["arch"] is None:
                self.study.tell(trial, state=TrialState.FAIL)
                continue
            self.in_flight.setdefault(answer["arch"], []).append(trial)
            return {"arch": answer["arch"]}
        raise RuntimeError(f"TPE proposed {MAX_INVALID} invalid genomes in a row")

    def tell(self, trial):
        optuna_trial = self.in_flight[trial["arch"]].pop(0)
        if trial["fitness"] is None:
            self.study.tell(optuna_trial, state=TrialState.FAIL)
        else:
            self.study.tell(optuna_trial, trial["fitness"])


if __name__ == "__main__":
    nas_protocol.run(OptunaTPE())

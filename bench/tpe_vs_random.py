"""TPE against random search on mlp_digits: the best validation loss of a 16-trial sweep of
each method over the spec's sweep section (hidden in {64, 128, 256}, lr log-uniform in
[1e-4, 1e-2]), for three sweep seeds (the issue's "TPE >= random in >= 2 of 3 seeds").

    python bench/tpe_vs_random.py [--trials 16] [--epochs 20] [--out runs/tpe-vs-random]
                                  [--json bench/results/tpe_vs_random.json]

The trials train in this process rather than as `nndsl sweep`'s one process per trial (whose
start-up dominates on a busy machine): one compiled step per hidden size, the learning rate
an input of the step (optax.inject_hyperparams), the train section's data, batch and seed.
Random draws are `nndsl sweep`'s own (fit/trials.py plan_trials); TPE is `method = tpe`'s
sampler and median pruner (fit/study.py), fed the validation loss after every epoch. A
trial's value is its best validation loss over the epochs (what sweep.json calls `best`).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import jax
import numpy as np
import optax

import nndsl
from nndsl.fit import study as studies
from nndsl.fit.loop import Trainer, load_data
from nndsl.fit.trials import plan_trials, search_space

SPEC = Path(__file__).resolve().parents[1] / "specs" / "mlp_digits.nn"


class Objective:
    """Train mlp_digits for given (hidden, lr); a compiled trainer per hidden size."""

    def __init__(self, epochs: int):
        self.epochs, self.trainers = epochs, {}

    def trainer(self, hidden: int) -> Trainer:
        if hidden not in self.trainers:
            plan = nndsl.load(SPEC, {"hidden": hidden}).plan()
            trainer = Trainer(plan, load_data(plan), self.epochs)
            trainer.optimizers = [optax.inject_hyperparams(optax.adam)(learning_rate=1e-3)]
            self.trainers[hidden] = trainer
        return self.trainers[hidden]

    def curve(self, hidden: int, lr: float):
        """Yield the validation loss after each epoch."""
        trainer = self.trainer(hidden)
        seed = trainer.plan.settings["seed"]
        params, state, opt_states = trainer.init(seed)
        opt_states[0].hyperparams["learning_rate"] = jax.numpy.asarray(lr, np.float32)
        base = jax.random.PRNGKey(seed)
        for epoch in range(1, self.epochs + 1):
            order = trainer.epoch_order(seed, epoch)
            for i, (batch, _) in enumerate(trainer.batches("train", trainer.batch, order)):
                rng = jax.random.fold_in(base, (epoch - 1) * trainer.steps_per_epoch + i)
                params, state, opt_states, _, _ = trainer.step(params, state, opt_states,
                                                               batch, rng)
            yield trainer.evaluate(params, state, "val")["loss"]


def random_sweep(objective: Objective, entries, trials: int, seed: int) -> dict:
    """The best validation loss of `trials` random draws, each trained every epoch."""
    draws = plan_trials(entries, trials, seed, Path("."))
    best = min(min(objective.curve(t.values["hidden"], t.values["lr"])) for t in draws)
    return {"random": best, "random_epochs": trials * objective.epochs}


def tpe_sweep(objective: Objective, entries, trials: int, seed: int, out: Path) -> dict:
    """The best validation loss of a `method = tpe` study of `trials` trials, with the
    trials its median pruner stopped and the epochs trained."""
    import optuna

    db = out.resolve() / f"tpe-{seed}.db"
    db.unlink(missing_ok=True)  # a fresh study: an earlier one would be resumed, not rerun
    plan = studies.StudyPlan(f"sqlite:///{db}", "bench", seed,
                             trials, "median", "min")
    study = studies.open_study(plan, None)
    space = search_space(entries)
    epochs = 0
    while (asked := studies.ask(study, plan, space)) is not None:
        best = np.inf
        for epoch, value in enumerate(objective.curve(asked.params["hidden"],
                                                      asked.params["lr"]), 1):
            best, epochs = min(best, value), epochs + 1
            asked.report(value, epoch)
            if asked.should_prune():
                study.tell(asked, state=optuna.trial.TrialState.PRUNED)
                break
        else:
            study.tell(asked, best)
    pruned = study.get_trials(states=(optuna.trial.TrialState.PRUNED,))
    return {"tpe": study.best_value, "tpe_pruned": len(pruned), "tpe_epochs": epochs,
            "tpe_best_params": study.best_params}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=16)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--out", default="runs/tpe-vs-random")
    parser.add_argument("--json", default=None, help="also write the table here")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    entries = nndsl.load(SPEC).sweep_entries()
    objective = Objective(args.epochs)
    results = []
    for seed in (0, 1, 2):
        row = {"seed": seed, **random_sweep(objective, entries, args.trials, seed),
               **tpe_sweep(objective, entries, args.trials, seed, out)}
        row["tpe_at_least_as_good"] = row["tpe"] <= row["random"]
        print(json.dumps(row), flush=True)
        results.append(row)
    for path in filter(None, (out / "tpe_vs_random.json", args.json)):
        Path(path).write_text(json.dumps({"trials": args.trials, "epochs": args.epochs,
                                          "seeds": results}, indent=2) + "\n")


if __name__ == "__main__":
    main()

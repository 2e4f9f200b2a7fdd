"""Model-based sweeps (`method = tpe`, nndsl/fit/study.py): the study's storage, sharing and
resuming, the pruner fed by each epoch's metrics.csv row, and the sweep section's settings.

Fast tests run trials as a tiny stand-in process that writes metrics.csv and results.json
as `nndsl train` does; the slow ones run real `nndsl sweep` processes."""

import json
import subprocess
import sys
import threading

import pytest

from nndsl.cli import main
from nndsl.elab import Config
from nndsl.fit import study as studies
from nndsl.source import Span, SpecError
from tests.conftest import CONTRACT

optuna = pytest.importorskip("optuna")

# A stand-in trial: epochs of `value * 0.9**epoch` (a bad trial's value is large), one every
# 0.1 s, written to metrics.csv as each ends; results.json at the end, like `nndsl train`.
FAKE_TRAIN = r"""
import json, sys, time, pathlib
run, value = pathlib.Path(sys.argv[1]), float(sys.argv[2])
run.mkdir(parents=True, exist_ok=True)
with open(run / "metrics.csv", "w") as f:
    f.write("epoch,val_loss\n"); f.flush()
    for epoch in range(1, 11):
        time.sleep(0.1)
        f.write(f"{epoch},{value * 0.9 ** epoch}\n"); f.flush()
best = value * 0.9 ** 10
(run / "results.json").write_text(json.dumps(
    {"monitor": "val_loss", "mode": "min", "best": best, "best_epoch": 10}))
"""
SPACE = {"x": Config("uniform", {"values": [0.1, 1.0]}, None)}


def _fake(trial):
    return [sys.executable, "-c", FAKE_TRAIN, str(trial.run_dir), str(trial.values["x"])]


def _plan(tmp_path, budget, pruner="median", seed=0):
    return studies.StudyPlan(studies.default_storage(tmp_path), "s", seed, budget, pruner,
                             "min")


def _run(study, plan, tmp_path, ended=None):
    studies.run_study(study, plan, SPACE, tmp_path, _fake, lambda row: row["val_loss"], 1,
                      [].append if ended is None else ended.append)


def test_the_pruner_stops_a_bad_trial_early(tmp_path):
    plan = _plan(tmp_path, 3)
    study = studies.open_study(plan, None)
    for x in (0.2, 0.3, 1.0):  # two good trials, then a deliberately bad one
        study.enqueue_trial({"x": x})
    ended = []
    _run(study, plan, tmp_path, ended)
    assert [t.status for t in ended[:2]] == ["done", "done"]
    assert ended[2].status.startswith("pruned (epoch ")
    rows = (tmp_path / "trial-002" / "metrics.csv").read_text().splitlines()
    assert len(rows) - 1 < 10 and not (tmp_path / "trial-002" / "results.json").exists()
    states = [t.state.name for t in study.get_trials()]
    assert states == ["COMPLETE", "COMPLETE", "PRUNED"]


def test_without_a_pruner_the_bad_trial_runs_to_its_end(tmp_path):
    plan = _plan(tmp_path, 3, pruner="none")
    study = studies.open_study(plan, None)
    for x in (0.2, 0.3, 1.0):
        study.enqueue_trial({"x": x})
    ended = []
    _run(study, plan, tmp_path, ended)
    assert [t.status for t in ended] == ["done"] * 3


def test_two_sweeps_on_one_storage_share_the_study(tmp_path):
    plan = _plan(tmp_path, 6, pruner="none")
    # Two studies opened separately on one SQLite file, as two processes would.
    first, second = studies.open_study(plan, None), studies.open_study(plan, None)
    ran = [[], []]
    threads = [threading.Thread(target=_run, args=(s, plan, tmp_path, r))
               for s, r in zip((first, second), ran)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    numbers = sorted(t.index for r in ran for t in r)
    assert numbers == list(range(6)) and ran[0] and ran[1]
    draws = [t.values["x"] for r in ran for t in r]
    assert len(set(draws)) == 6  # no two trials drew the same values
    assert len(studies.study_trials(first, SPACE)) == 6


def test_a_rerun_resumes_and_replaces_interrupted_trials(tmp_path):
    plan = _plan(tmp_path, 2, pruner="none")
    study = studies.open_study(plan, None)
    _run(study, plan, tmp_path)
    ended = []
    _run(studies.open_study(plan, None), plan, tmp_path, ended)
    assert ended == []  # the budget is spent: nothing runs again
    # A trial left running by a process that no longer exists is failed and replaced.
    bigger = _plan(tmp_path, 3, pruner="none")
    study = studies.open_study(bigger, None)
    orphan = studies.ask(study, bigger, SPACE)
    orphan.set_user_attr("pid", 2 ** 22 + 1)  # above pid_max: no such process
    _run(studies.open_study(bigger, None), bigger, tmp_path, ended)
    states = [t.state.name for t in study.get_trials()]
    assert states == ["COMPLETE", "COMPLETE", "FAIL", "COMPLETE"]
    assert [t.index for t in studies.study_trials(study, SPACE)] == [0, 1, 3]


def test_start_up_draws_follow_the_seed(tmp_path):
    def draws(path, seed):
        plan = studies.StudyPlan(studies.default_storage(path), "s", seed, 8, "none", "min")
        study = studies.open_study(plan, None)
        return [studies.ask(study, plan, SPACE).params["x"] for _ in range(2)]

    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir(), (tmp_path / "c").mkdir()
    assert draws(tmp_path / "a", 0) == draws(tmp_path / "b", 0) != draws(tmp_path / "c", 1)


def test_metrics_rows_being_written_are_read_whole(tmp_path):
    path = tmp_path / "metrics.csv"
    path.write_text("epoch,val_loss\n1,0.5\n2,0.4")
    assert studies.read_rows(path) == [{"epoch": 1.0, "val_loss": 0.5}]
    assert studies.read_rows(tmp_path / "absent.csv") == []


SWEPT = (CONTRACT / "perceptron_xor.nn").read_text().replace(
    "optimizer = sgd(lr=0.5, momentum=0.9)", "optimizer = sgd(lr=lr, momentum=0.9)") \
    .replace("network Perceptron", "let lr = 0.5\n\nnetwork Perceptron")


def _sweep_spec(write_spec, settings: str):
    return write_spec(SWEPT + f"\nsweep {{\n{settings}\n    lr = loguniform(0.01, 1.0)\n}}\n")


@pytest.mark.parametrize("settings, code, where, words", [
    ("    pruner = median", "E282", "5:5", "model-based sweep only"),
    ("    method = tpe\n    pruner = hyperband", "E282", "6:5", "not `hyperband`"),
    ("    method = tpe\n    storage = 3", "E282", "6:5", "database URL"),
    ("    method = bayes", "E024", "5:5", "random, grid, tpe"),
])
def test_sweep_settings_are_checked(write_spec, capsys, settings, code, where, words):
    path = _sweep_spec(write_spec, settings)
    assert main(["check", str(path)]) == 1
    err = capsys.readouterr().err
    line = SWEPT.count("\n") + 1 + int(where.split(":")[0]) - 3
    assert f":{line}:{where.split(':')[1]}: error[{code}]" in err and words in err


def test_a_process_that_loses_the_race_to_create_the_storage_joins_the_study(tmp_path,
                                                                             monkeypatch):
    # Two `nndsl sweep` processes starting at once both create the SQLite tables; the slower
    # one is told "table studies already exists" and must join the study, not fail (E280).
    plan = _plan(tmp_path, 2, pruner="none")
    create, calls = optuna.create_study, []

    def racing(**kwargs):
        calls.append(kwargs["study_name"])
        if len(calls) == 1:
            create(**kwargs)  # the other process wins the race
            raise RuntimeError("(sqlite3.OperationalError) table studies already exists")
        return create(**kwargs)

    monkeypatch.setattr(optuna, "create_study", racing)
    monkeypatch.setattr(studies.time, "sleep", lambda seconds: None)
    assert studies.open_study(plan, None).study_name == plan.name and len(calls) == 2


def test_a_storage_error_other_than_the_race_is_not_retried(tmp_path, monkeypatch):
    calls = []

    def broken(**kwargs):
        calls.append(1)
        raise RuntimeError("(sqlite3.OperationalError) disk I/O error")

    monkeypatch.setattr(optuna, "create_study", broken)
    with pytest.raises(SpecError) as caught:
        studies.open_study(_plan(tmp_path, 2, pruner="none"), Span(None, 0, 0, 0, 0))
    assert caught.value.diagnostics[0].code == "E280" and calls == [1]


def test_a_storage_that_cannot_be_opened_is_located(write_spec, capsys, tmp_path):
    path = _sweep_spec(write_spec, '    method = tpe\n    storage = "sqlite:////no/such/dir/s.db"')
    assert main(["sweep", str(path), "--out", str(tmp_path / "s")]) == 1
    err = capsys.readouterr().err
    assert "error[E280]: cannot open the study storage sqlite:////no/such/dir/s.db" in err
    assert "unable to open database file" in err and "Traceback" not in err
    assert main(["sweep", str(path), "--out", str(tmp_path / "s"), "--storage", "bogus://x"]) \
        == 1
    err = capsys.readouterr().err
    assert "<command line>:1:11: error[E280]: cannot open the study storage bogus://x" in err


def test_without_optuna_a_tpe_sweep_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "optuna", None)  # import optuna raises ImportError
    with pytest.raises(SpecError) as caught:
        studies.optuna_module(Span(None, 0, 0, 0, 0))
    assert caught.value.diagnostics[0].code == "E281"
    assert "nndsl[search]" in caught.value.diagnostics[0].hint


@pytest.mark.slow
def test_two_sweep_processes_share_one_study(write_spec, tmp_path):
    path = _sweep_spec(write_spec, "    method = tpe\n    trials = 4\n    pruner = none")
    command = [sys.executable, "-m", "nndsl", "sweep", str(path), "--epochs", "3",
               "--out", str(tmp_path / "s"), "--allow-outside-runs"]
    processes = [subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
                 for _ in range(2)]
    outputs = [p.communicate()[0] for p in processes]
    assert [p.returncode for p in processes] == [0, 0]
    ran = [[line.split()[1] for line in out.splitlines() if line.startswith("trial ")
            and " done" in line] for out in outputs]
    assert sorted(ran[0] + ran[1]) == ["0", "1", "2", "3"] and ran[0] and ran[1]
    rows = json.loads((tmp_path / "s" / "sweep.json").read_text())
    assert [r["trial"] for r in rows] == [0, 1, 2, 3]
    assert len({r["settings"]["lr"] for r in rows}) == 4

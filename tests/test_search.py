"""search.py: drawing the trials, ranking, tables, reproducibility, and the same table serially, with two joblib
workers and on a dask.distributed LocalCluster."""
import csv
import io
import math

import numpy as np
import pytest

import search
from trainer import Dataset

SPACE = {"lr": ("log", 1e-3, 1e-1), "batch_size": ("choice", [16, 32]), "conv1": ("int", 2, 3)}
FIXED = {"epochs": 2, "conv2": 2, "n_classes": 3, "optim": "momentum"}


@pytest.fixture(scope="module")
def dataset():
    """Three classes of 16x16 images that differ by brightness: learnable in a few steps."""
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 96)
    X = (rng.standard_normal((96, 16, 16, 3)) * 0.5 + (y - 1)[:, None, None, None]).astype(np.float32)
    return Dataset(X[:64], y[:64], X[64:], y[64:])


def without_times(results):
    return [{name: value for name, value in row.items() if name != "seconds"} for row in results]


def row(trial, val_acc, loss, status="ok", train_acc=0.5):
    return {"trial": trial, "val_acc": val_acc, "train_acc": train_acc, "loss": loss, "status": status}


def test_sample_trials_draws_from_each_distribution():
    space = {"lr": ("log", 1e-4, 1e-1), "momentum": ("uniform", 0.8, 0.9), "conv1": ("int", 2, 4),
             "optim": ("choice", ["sgd", "adam"])}
    trials = search.sample_trials(space, 200, seed=1)
    params = [params for params, _ in trials]
    assert all(1e-4 <= p["lr"] <= 1e-1 and 0.8 <= p["momentum"] <= 0.9 for p in params)
    assert {p["conv1"] for p in params} == {2, 3, 4} and {p["optim"] for p in params} == {"sgd", "adam"}
    assert all(type(p["conv1"]) is int and type(p["lr"]) is float for p in params)
    # log-uniform: about as many draws below 1e-2.5 as above
    assert 70 < sum(p["lr"] < 10 ** -2.5 for p in params) < 130
    seeds = [seed for _, seed in trials]
    assert len(set(seeds)) == 200 and all(isinstance(seed, int) for seed in seeds)


def test_sample_trials_is_reproducible_and_a_longer_search_extends_a_shorter_one():
    assert search.sample_trials(SPACE, 5, seed=3) == search.sample_trials(SPACE, 5, seed=3)
    assert search.sample_trials(SPACE, 8, seed=3)[:5] == search.sample_trials(SPACE, 5, seed=3)
    assert search.sample_trials(SPACE, 5, seed=4) != search.sample_trials(SPACE, 5, seed=3)


@pytest.mark.parametrize("spec, match", [
    (("gauss", 0, 1), r"must be \('log', low, high\)"),
    (("log", 0, 1), "must have 0 < low <= high"),
    (("uniform", 2, 1), "must have low <= high"),
    (("uniform", 0, float("inf")), "both finite"),
    (("int", 1.5, 3), "with integer bounds"),
    (("log", 1e-3), r"must be \('log', low, high\)"),
    (("choice", []), "non-empty list of options"),
    (("choice", "abc"), "non-empty list of options"),
    (0.1, r"must be \('log', low, high\)"),
])
def test_bad_distributions_are_refused(spec, match):
    with pytest.raises(ValueError, match=r"`param_space\['lr'\]` .*" + match):
        search.sample_trials({"lr": spec}, 2, seed=0)


@pytest.mark.parametrize("kwargs, error, match", [
    ({"param_space": {"learning_rate": ("log", 1e-3, 1e-1)}}, ValueError, "unknown hyperparameter 'learning_rate'"),
    ({"colour": "red"}, ValueError, "unknown hyperparameter 'colour'"),
    ({"lr": 0.1}, ValueError, "'lr' is both searched"),
    ({"param_space": {}}, TypeError, "non-empty dict"),
    ({"objective": "loss"}, ValueError, "`objective` must be one of val_acc, train_acc"),
    ({"n_jobs": 0}, ValueError, "`n_jobs` must be a non-zero integer"),
    ({"n_trials": 0}, ValueError, "`n_trials` must be a positive integer"),
    ({"dataset": object()}, TypeError, "`dataset` must have the attributes"),
])
def test_random_search_refuses_bad_arguments(dataset, kwargs, error, match):
    arguments = {"dataset": dataset, "param_space": SPACE, "n_trials": 2, **kwargs}
    with pytest.raises(error, match=match):
        search.random_search(arguments.pop("dataset"), arguments.pop("param_space"), arguments.pop("n_trials"),
                             **arguments)


def test_rank_orders_by_the_objective_then_the_loss_with_diverged_trials_last():
    rows = [row(0, 0.5, 1.0), row(1, math.nan, math.nan, "diverged at epoch 1"), row(2, 0.9, 0.7),
            row(3, 0.9, 0.3), row(4, 0.2, 0.1, train_acc=1.0)]
    ranked = search.rank(rows)
    assert [r["trial"] for r in ranked] == [3, 2, 0, 4, 1]
    assert [r["rank"] for r in ranked] == [1, 2, 3, 4, 5] and list(ranked[0])[0] == "rank"
    assert [r["trial"] for r in search.rank(ranked, "train_acc")] == [4, 3, 2, 0, 1]


def test_random_search_is_reproducible_and_ranked(dataset):
    results = search.random_search(dataset, SPACE, 4, seed=0, **FIXED)
    again = search.random_search(dataset, SPACE, 4, seed=0, **FIXED)
    assert without_times(results) == without_times(again)
    assert [r["rank"] for r in results] == [1, 2, 3, 4]
    assert sorted(r["trial"] for r in results) == [0, 1, 2, 3]
    keys = [(-r["val_acc"], r["loss"]) for r in results]
    assert keys == sorted(keys)
    assert list(results[0]) == ["rank", "trial", "val_acc", "train_acc", "loss", "lr", "batch_size", "conv1",
                                "seed", "seconds", "status"]
    trials = search.sample_trials(SPACE, 4, seed=0)
    for r in results:
        params, seed = trials[r["trial"]]
        assert {name: r[name] for name in params} == params and r["seed"] == seed and r["status"] == "ok"
    other = search.random_search(dataset, SPACE, 4, seed=1, **FIXED)
    assert without_times(other) != without_times(results)


def test_a_trial_can_be_rerun_from_its_row(dataset):
    from train import train_model

    best = search.random_search(dataset, SPACE, 2, seed=0, **FIXED)[0]
    _, trainer = train_model(dataset, **{name: best[name] for name in SPACE}, **FIXED, seed=best["seed"])
    assert max(record["val_acc"] for record in trainer.history) == best["val_acc"]
    assert trainer.history[-1]["loss"] == best["loss"]


def test_train_acc_objective_and_diverged_trials(dataset):
    space = {"lr": ("choice", [0.05, 1e30])}
    results = search.random_search(dataset, space, 4, seed=2, objective="train_acc", **{**FIXED, "optim": "sgd"})
    statuses = [r["status"] for r in results]
    assert "ok" in statuses and any(status.startswith("diverged at epoch ") for status in statuses)
    assert statuses == sorted(statuses, key=lambda status: status != "ok")
    ok = [r for r in results if r["status"] == "ok"]
    assert [r["train_acc"] for r in ok] == sorted((r["train_acc"] for r in ok), reverse=True)
    assert all(math.isnan(r["val_acc"]) for r in results if r["status"] != "ok")


def test_two_joblib_workers_give_the_serial_table(dataset):
    serial = search.random_search(dataset, SPACE, 4, seed=5, **FIXED)
    parallel = search.random_search(dataset, SPACE, 4, seed=5, n_jobs=2, **FIXED)
    assert without_times(parallel) == without_times(serial)


def test_a_dask_local_cluster_gives_the_serial_table(dataset):
    distributed = pytest.importorskip("dask.distributed")
    joblib = pytest.importorskip("joblib")
    serial = search.random_search(dataset, SPACE, 4, seed=6, **FIXED)
    # Thread workers start in a fraction of a second; the loky test above covers shipping trials to processes.
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None)
    with cluster, distributed.Client(cluster) as client, joblib.parallel_config(backend="dask"):
        on_cluster = search.random_search(dataset, SPACE, 4, seed=6, n_jobs=2, **FIXED)
        assert len(client.scheduler_info()["workers"]) == 2
    assert without_times(on_cluster) == without_times(serial)


def test_to_csv_and_print_table(dataset, tmp_path):
    results = search.random_search(dataset, SPACE, 3, seed=0, **FIXED)
    search.to_csv(results, tmp_path / "search.csv")
    with open(tmp_path / "search.csv", newline="") as file:
        rows = list(csv.DictReader(file))
    assert [int(r["trial"]) for r in rows] == [r["trial"] for r in results]
    assert float(rows[0]["lr"]) == results[0]["lr"] and list(rows[0]) == list(results[0])

    text = io.StringIO()
    search.print_table(results, max_rows=2, file=text)
    lines = text.getvalue().splitlines()
    assert lines[0].split() == list(results[0]) and len(lines) == 4 and lines[-1] == "... 1 more"
    assert len({len(line) for line in lines[:3]}) == 1  # aligned columns
    assert lines[1].split()[:2] == ["1", str(results[0]["trial"])]


def test_tables_refuse_what_is_not_a_result(tmp_path):
    with pytest.raises(ValueError, match="non-empty list of dicts"):
        search.to_csv([], tmp_path / "x.csv")
    with pytest.raises(ValueError, match="non-empty list of dicts"):
        search.print_table({"rank": 1})

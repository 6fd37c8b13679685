"""search.py: drawing the trials, ranking, tables, reproducibility, and the same table serially, with two joblib
workers and on a dask.distributed LocalCluster."""
import csv
import io
import math

import numpy as np
import pytest

import search
import threads
from trainer import Dataset

SPACE = {"lr": ("log", 1e-3, 1e-1), "batch_size": ("choice", [16, 32]), "conv1": ("int", 2, 3)}
FIXED = {"epochs": 2, "conv2": 2, "n_classes": 3, "optim": "momentum"}
FIXED_WITHOUT_OPTIM = {name: value for name, value in FIXED.items() if name != "optim"}


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


# With optim 'adam' and the default arch 'convnet': all but momentum and the settings of the other architectures.
ADAM_SETTINGS = ", ".join(name for name in search.SETTINGS
                          if name != "momentum" and "convnet" in search.ARCH_SETTINGS.get(name, ["convnet"]))


@pytest.mark.parametrize("kwargs, error, match", [
    ({"param_space": {"learning_rate": ("log", 1e-3, 1e-1)}}, ValueError,
     "unknown hyperparameter 'learning_rate' in `param_space`: a search can set arch, conv1, conv2, widths, "
     "dropout, activation, optim, lr, momentum, weight_decay, lr_decay, schedule, reg, augment, epochs"),
    ({"colour": "red"}, ValueError, "unknown hyperparameter 'colour' in the fixed arguments: a search can set"),
    # the README's Dask example: momentum searched with the default optimizer, Adam, which has no momentum
    ({"param_space": {**SPACE, "momentum": ("uniform", 0.8, 0.99)}, "optim": "adam"}, ValueError,
     "`param_space` sets 'momentum', which optim 'adam' does not use \\(only 'momentum', 'nesterov' do\\): with "
     f"optim 'adam' a search can set {ADAM_SETTINGS}"),
    ({"param_space": {**SPACE, "momentum": ("uniform", 0.8, 0.99)}, "optim": None}, ValueError,
     "`param_space` sets 'momentum', which optim 'adam' does not use"),
    ({"momentum": 0.95, "optim": "sgd"}, ValueError, "the fixed arguments set 'momentum', which optim 'sgd' does not"),
    ({"param_space": {**SPACE, "momentum": ("uniform", 0.8, 0.99), "optim": ("choice", ["sgd", "adam"])},
      "optim": None}, ValueError, "sets 'momentum', which optim 'sgd' or 'adam' does not use"),
    ({"optim": "adagrad"}, ValueError,
     "`optim` must be one of sgd, momentum, nesterov, adam, adamw, rmsprop, got 'adagrad'"),
    ({"param_space": {**SPACE, "optim": ("choice", ["sgd", "lbfgs"])}, "optim": None}, ValueError,
     "`param_space\\['optim'\\]` must choose among sgd, momentum, nesterov, adam, adamw, rmsprop, got 'lbfgs'"),
    # the architecture's settings, as the optimizer's
    ({"param_space": {**SPACE, "arch": ("choice", ["lenet", "vgg"])}}, ValueError,
     "`param_space` sets 'conv1', which arch 'lenet' or 'vgg' does not use \\(only 'convnet' does\\): with arch "
     "'lenet' or 'vgg' a search can set arch, widths, dropout, activation, optim"),
    ({"param_space": {"lr": ("log", 1e-3, 1e-1), "widths": ("choice", [(2,), (2, 4)])}, "arch": "lenet"},
     ValueError, "`param_space` sets 'widths', which arch 'lenet' does not use \\(only 'vgg' does\\)"),
    ({"param_space": {"lr": ("log", 1e-3, 1e-1)}, "activation": "tanh"}, ValueError,
     "the fixed arguments set 'activation', which arch 'convnet' does not use \\(only 'lenet' does\\)"),
    ({"param_space": {**SPACE, "arch": ("choice", ["convnet", "resnet"])}}, ValueError,
     "`param_space\\['arch'\\]` must choose among convnet, lenet, vgg, got 'resnet'"),
    ({"param_space": {**SPACE, "arch": ("uniform", 0, 1)}}, ValueError,
     "`param_space\\['arch'\\]` must be \\('choice', names\\) with names among convnet, lenet, vgg"),
    ({"arch": "alexnet"}, ValueError, "`arch` must be one of convnet, lenet, vgg, got 'alexnet'"),
    # a schedule sets every epoch's rate: no lr_decay beside it
    ({"param_space": {**SPACE, "schedule": ("choice", ["cosine", "step:1:0.5"])}, "lr_decay": 0.9}, ValueError,
     "`schedule` and `lr_decay` cannot both be set: a schedule sets the learning rate of every epoch"),
    ({"param_space": {**SPACE, "lr_decay": ("uniform", 0.8, 1.0)}, "schedule": "cosine"}, ValueError,
     "`schedule` and `lr_decay` cannot both be set"),
    ({"param_space": {**SPACE, "optim": ("int", 0, 3)}, "optim": None}, ValueError,
     "`param_space\\['optim'\\]` must be \\('choice', names\\)"),
    ({"lr": 0.1}, ValueError, "'lr' is both searched"),
    ({"param_space": {}}, TypeError, "non-empty dict"),
    ({"objective": "loss"}, ValueError, "`objective` must be one of val_acc, train_acc"),
    ({"n_jobs": 0}, ValueError, "`n_jobs` must be a non-zero integer"),
    ({"threads_per_trial": 0}, ValueError, "`threads_per_trial` must be a positive integer"),
    ({"n_jobs": 2, "threads_per_trial": 64}, ValueError, "`threads_per_trial` 64 times the 2 trials run at once"),
    ({"n_trials": 0}, ValueError, "`n_trials` must be a positive integer"),
    ({"dataset": object()}, TypeError, "`dataset` must have the attributes"),
])
def test_random_search_refuses_bad_arguments(dataset, kwargs, error, match):
    arguments = {"dataset": dataset, "param_space": SPACE, "n_trials": 2, "epochs": 1, **kwargs}
    if "optim" in arguments and arguments["optim"] is None:  # the search's default optimizer
        del arguments["optim"]
    with pytest.raises(error, match=match):
        search.random_search(arguments.pop("dataset"), arguments.pop("param_space"), arguments.pop("n_trials"),
                             **arguments)


@pytest.mark.parametrize("space, fixed", [
    ({**SPACE, "momentum": ("uniform", 0.8, 0.99)}, {"optim": "nesterov"}),
    ({**SPACE, "momentum": ("uniform", 0.8, 0.99), "optim": ("choice", ["sgd", "momentum"])}, {}),
    ({**SPACE, "optim": ("choice", ["sgd", "adam"])}, {"reg": 1e-3}),
])
def test_settings_some_optimizer_of_the_search_uses_are_accepted(dataset, space, fixed):
    results = search.random_search(dataset, space, 2, seed=0, epochs=1, conv2=2, n_classes=3, **fixed)
    assert [r["status"] for r in results] == ["ok", "ok"]


MODELS_SPACE = {"arch": ("choice", ["convnet", "lenet", "vgg"]), "widths": ("choice", [(2,), (2, 4)]),
                "dropout": ("uniform", 0.0, 0.5), "activation": ("choice", ["relu", "tanh"]),
                "conv1": ("int", 2, 3), "optim": ("choice", ["adam", "adamw", "momentum"]),
                "momentum": ("uniform", 0.8, 0.95), "weight_decay": ("log", 1e-5, 1e-2),
                "schedule": ("choice", ["step:1:0.5", "cosine", "warmup:1"]), "lr": ("log", 1e-3, 1e-2)}


def test_a_search_over_architectures_optimizers_schedules_and_weight_decay(dataset):
    from train import train_model

    fixed = {"epochs": 2, "n_classes": 3, "conv2": 2, "batch_size": 16}
    results = search.random_search(dataset, MODELS_SPACE, 12, seed=3, **fixed)
    assert [r["status"] for r in results] == ["ok"] * 12
    assert {r["arch"] for r in results} == {"convnet", "lenet", "vgg"}
    assert {r["optim"] for r in results} == {"adam", "adamw", "momentum"}
    trials = dict(enumerate(params for params, _ in search.sample_trials(MODELS_SPACE, 12, seed=3)))
    for r in results:
        drawn = trials[r["trial"]]
        used = {"convnet": {"conv1"}, "lenet": {"activation"}, "vgg": {"widths", "dropout"}}[r["arch"]]
        used |= {"momentum"} if r["optim"] == "momentum" else set()
        for name in ("conv1", "widths", "dropout", "activation", "momentum"):
            assert r[name] == (drawn[name] if name in used else None), (name, r)
        assert 1e-5 <= r["weight_decay"] <= 1e-2 and r["schedule"] in ("step:1:0.5", "cosine", "warmup:1")
    # A row reruns as it says: its settings (None: not read) with the fixed ones and its seed, on one thread as the
    # trials ran (threads_per_trial=1).
    for r in [r for r in results if r["arch"] == "vgg"][:1] + [r for r in results if r["arch"] == "lenet"][:1]:
        with threads.limit(1):
            _, trainer = train_model(dataset, **{name: r[name] for name in MODELS_SPACE}, **fixed, seed=r["seed"])
        assert max(record["val_acc"] for record in trainer.history) == r["val_acc"]
        assert trainer.history[-1]["loss"] == r["loss"]


def test_momentum_is_none_in_the_rows_of_optimizers_without_it(dataset):
    space = {"optim": ("choice", ["adam", "momentum"]), "momentum": ("uniform", 0.8, 0.9)}
    results = search.random_search(dataset, space, 6, seed=0, **FIXED_WITHOUT_OPTIM)
    assert {r["optim"] for r in results} == {"adam", "momentum"}
    assert all((r["momentum"] is None) == (r["optim"] == "adam") for r in results)
    lines = table(results)
    assert any(" None " in line + " " for line in lines[2:])


def test_rank_orders_by_the_objective_then_the_loss_with_diverged_trials_last():
    rows = [row(0, 0.5, 1.0), row(1, math.nan, math.nan, "diverged at epoch 1"), row(2, 0.9, 0.7),
            row(3, 0.9, 0.3), row(4, 0.2, 0.1, train_acc=1.0)]
    ranked = search.rank(rows)
    assert [r["trial"] for r in ranked] == [3, 2, 0, 4, 1]
    assert [r["rank"] for r in ranked] == [1, 2, 3, 4, 5]
    assert list(ranked[0]) == ["rank", "val_acc", "train_acc", "loss", "trial", "status"]
    by_train_acc = search.rank(ranked, "train_acc")
    assert [r["trial"] for r in by_train_acc] == [4, 3, 2, 0, 1]
    assert list(by_train_acc[0]) == ["rank", "train_acc", "val_acc", "loss", "trial", "status"]


def table(results, **kwargs):
    text = io.StringIO()
    search.print_table(results, file=text, **kwargs)
    return text.getvalue().splitlines()


@pytest.mark.parametrize("objective", search.OBJECTIVES)
def test_print_table_says_what_ranks_the_trials_and_shows_that_column_first(objective):
    rows = [row(0, 0.25, 0.5, train_acc=1.0), row(1, 0.75, 0.25, train_acc=0.5)]
    lines = table(search.rank(rows, objective))
    assert lines[0] == f"ranked by {objective}, highest first (ties: lowest loss)"
    assert lines[1].split()[:3] == ["rank", objective, ({*search.OBJECTIVES} - {objective}).pop()]
    assert lines[2].split()[:2] == ["1", "1.0000" if objective == "train_acc" else "0.7500"]


def test_print_table_formats_every_number_of_a_column_alike():
    def with_params(row, **params):  # status stays last, as in random_search's rows
        return {**{name: value for name, value in row.items() if name != "status"}, **params, "status": row["status"]}

    rows = [with_params(row(0, 1.0, 0.0123, train_acc=0.9921875), lr=0.01213, momentum=0.9, batch_size=16),
            with_params(row(1, 0.5, 2.3, train_acc=1), lr=0.007346, momentum=0.85, batch_size=8),
            with_params(row(2, math.nan, math.nan, "diverged at epoch 1", math.nan), lr=0.1, momentum=0.99,
                        batch_size=8)]
    lines = table(search.rank(rows))
    header, cells = lines[1].split(), [line.split() for line in lines[2:]]
    column = {name: [line[k] for line in cells] for k, name in enumerate(header)}
    assert column["val_acc"] == ["1.0000", "0.5000", "nan"]
    assert column["train_acc"] == ["0.9922", "1.0000", "nan"]
    assert column["loss"] == ["0.0123", "2.3000", "nan"]
    assert column["lr"] == ["1.21e-02", "7.35e-03", "1.00e-01"]  # a value below 0.01: the whole column in e-notation
    assert column["momentum"] == ["0.9000", "0.8500", "0.9900"]
    assert column["batch_size"] == ["16", "8", "8"] and column["rank"] == ["1", "2", "3"]
    assert len({len(line) for line in lines[1:]}) == 1  # aligned columns


def test_print_table_of_rows_that_rank_did_not_order_has_no_ranking_line():
    lines = table([row(0, 0.5, 1.0)])
    assert lines[0].split() == ["trial", "val_acc", "train_acc", "loss", "status"]


def test_random_search_is_reproducible_and_ranked(dataset):
    results = search.random_search(dataset, SPACE, 4, seed=0, **FIXED)
    again = search.random_search(dataset, SPACE, 4, seed=0, **FIXED)
    assert without_times(results) == without_times(again)
    assert [r["rank"] for r in results] == [1, 2, 3, 4]
    assert sorted(r["trial"] for r in results) == [0, 1, 2, 3]
    keys = [(-r["val_acc"], r["loss"]) for r in results]
    assert keys == sorted(keys)
    assert list(results[0]) == ["rank", "val_acc", "train_acc", "loss", "trial", "lr", "batch_size", "conv1",
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

    lines = table(results, max_rows=2)
    assert lines[0] == "ranked by val_acc, highest first (ties: lowest loss)"
    assert lines[1].split() == list(results[0]) and len(lines) == 5 and lines[-1] == "... 1 more"
    assert len({len(line) for line in lines[1:4]}) == 1  # aligned columns
    assert lines[2].split()[:2] == ["1", f"{results[0]['val_acc']:.4f}"]


def test_tables_refuse_what_is_not_a_result(tmp_path):
    with pytest.raises(ValueError, match="non-empty list of dicts"):
        search.to_csv([], tmp_path / "x.csv")
    with pytest.raises(ValueError, match="non-empty list of dicts"):
        search.print_table({"rank": 1})

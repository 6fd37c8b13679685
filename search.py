"""Random search over training hyperparameters, the trials run in parallel through joblib.

Each trial is an independent short training by `train.train_model` with its own seed. All trial parameters are
drawn up front from `numpy.random.default_rng(seed)` and each trial's seed is spawned from the same
`SeedSequence(seed)`, so a search is reproducible as a whole and gives the same table whatever `n_jobs` or backend
runs it. Every trial computes on `threads_per_trial` threads (`threads.limit`, 1 by default: the trials are the
parallelism, and the table does not depend on `n_jobs`); the trials running at once times that count may not exceed
the cores of this machine.

Example::

    from search import print_table, random_search, to_csv

    space = {"lr": ("log", 1e-4, 1e-1), "batch_size": ("choice", [16, 32, 64]),
             "momentum": ("uniform", 0.8, 0.99), "lr_decay": ("uniform", 0.8, 1.0), "conv1": ("int", 4, 16)}
    results = random_search(dataset, space, n_trials=16, seed=0, n_jobs=2, optim="momentum", epochs=3)
    print_table(results)   # ranked by val_acc, highest first (ties: lowest loss)
    to_csv(results, "search.csv")

The architecture, the schedule and the weight decay are settings like the others (rates in log space)::

    space = {"arch": ("choice", ["lenet", "vgg"]), "widths": ("choice", [(16, 32), (32, 64, 128)]),
             "dropout": ("uniform", 0.0, 0.5), "lr": ("log", 1e-4, 1e-2), "weight_decay": ("log", 1e-5, 1e-2),
             "schedule": ("choice", ["step:5:0.2", "cosine", "warmup:2+cosine"]),
             "optim": ("choice", ["adam", "adamw"])}
    results = random_search(dataset, space, n_trials=16, seed=0, n_jobs=2, epochs=10, augment="default")

A row holds None for a setting its trial does not read (`widths` of a lenet trial, `momentum` of an Adam one).

On a Dask cluster, switch joblib's backend; the workers need this package's modules on their path::

    import joblib
    from dask.distributed import Client

    client = Client("tcp://scheduler:8786")   # or Client(LocalCluster(n_workers=4, threads_per_worker=1))
    with joblib.parallel_config(backend="dask"):
        results = random_search(dataset, space, n_trials=64, seed=0, n_jobs=-1, optim="momentum", epochs=3)

The dask backend sends the four arrays of the data set to the cluster once and reuses them for every trial.
"""
import csv
import inspect
import numbers
import sys
import time

import numpy as np
from joblib import Parallel, delayed

import threads
from dataset import Dataset, check_dataset
from model import ARCH_SETTINGS, ARCHS
from optim import OPTIMIZERS
from train import train_model
from trainer import TrainingDivergedError
from validation import check_int

DISTRIBUTIONS = ("log", "uniform", "int", "choice")
OBJECTIVES = ("val_acc", "train_acc")
# Arguments of train_model a search may vary or fix; the others are the search's to set.
SETTINGS = tuple(name for name in inspect.signature(train_model).parameters
                 if name not in ("dataset", "seed", "verbose", "restore_best", "checkpoint_path", "model"))
DEFAULT_OPTIMIZER = inspect.signature(train_model).parameters["optim"].default
DEFAULT_ARCH = inspect.signature(train_model).parameters["arch"].default
# Settings that only some optimizers read (see optim.make_optimizer); every other setting counts for any optimizer.
OPTIMIZER_SETTINGS = {"momentum": ("momentum", "nesterov")}
# The settings that decide which others a trial reads: (name, its values, its default, {setting: the values
# that read it}); a setting missing from a table is read whatever the value.
SELECTORS = (("optim", OPTIMIZERS, DEFAULT_OPTIMIZER, OPTIMIZER_SETTINGS), ("arch", ARCHS, DEFAULT_ARCH, ARCH_SETTINGS))


def random_search(dataset, param_space, n_trials, seed=0, *, n_jobs=1, threads_per_trial=1, backend=None,
                  objective="val_acc", verbose=0, **fixed):
    """Train `n_trials` models with hyperparameters drawn at random from `param_space`; rank them.

    Parameters
    ----------
    dataset : trainer.Dataset, or any object with train_X, train_y, val_X, val_y
        Preprocessed images of shape (n, height, width, channels) and labels of shape (n,), in memory.
    param_space : dict of name -> distribution
        Names are arguments of `train.train_model` (see SETTINGS: arch, conv1, conv2, widths, dropout,
        activation, optim, lr, momentum, weight_decay, lr_decay, schedule, reg, augment, epochs, batch_size, ...)
        that an optimizer and an architecture of the search read: `momentum` only with optim 'momentum' or
        'nesterov', `conv1` and `conv2` only with arch 'convnet', `widths` and `dropout` with 'vgg', `activation`
        with 'lenet' (`optim` and `arch` fixed, or among the choices of `param_space['optim']` /
        `param_space['arch']`, a 'choice'); `schedule` (spec strings such as 'step:5:0.2' or 'cosine') and
        `lr_decay` not both. Each distribution is one of
        ("log", low, high): log-uniform float in [low, high], 0 < low <= high;
        ("uniform", low, high): uniform float in [low, high];
        ("int", low, high): uniform integer in low..high, both included;
        ("choice", options): one of a non-empty sequence, uniformly, e.g. ("choice", [(16, 32), (32, 64, 128)])
        for `widths`, ("choice", ["step:5:0.2", "cosine"]) for `schedule`.
        Rates and strengths (lr, weight_decay, reg) are best searched in log space; a 'choice' that includes 0
        tries no decay too.
    n_trials : int
    seed : int >= 0
        Draws every trial's parameters and seed; the same seed gives the same table.
    n_jobs : int
        Trials run at once, as joblib counts them (-1: one per core, or every Dask worker).
    threads_per_trial : int >= 1
        Threads each trial computes on (`threads.limit`). Above 1, trials at once times threads per trial must not
        exceed `threads.available_cores()` (any backend but 'dask'). A table is the same for any `n_jobs`
        at a given `threads_per_trial`; other counts round differently.
    backend : None or str
        joblib backend ('loky', 'threading', 'dask', ...); None takes the one set by `joblib.parallel_config`,
        else loky's worker processes.
    objective : {'val_acc', 'train_acc'}
        What ranks the trials: the best validation accuracy over the epochs, or the best training accuracy (to
        find settings that overfit a small set, as in the notebook).
    verbose : int
        joblib's progress messages (0: none); the trainings themselves print nothing.
    **fixed
        Further arguments of `train.train_model` shared by every trial, e.g. epochs=3, optim='momentum'; the same
        rule as for `param_space`. Without `optim` (fixed or searched), the trials use train_model's default,
        'adam'.

    Returns
    -------
    list of dict, best first
        One row per trial: rank (from 1), the objective, the other accuracy (val_acc and train_acc are the best
        over the epochs), loss (mean training loss of the last epoch), trial (the order of drawing, from 0), each
        parameter drawn (None when the trial's optimizer or architecture does not read it: momentum for 'adam',
        conv1 for 'vgg', ...), seed (rerun a trial with `train_model(dataset, **params, **fixed,
        seed=row['seed'])` inside `threads.limit(threads_per_trial)`),
        seconds, and status ('ok', or where the training diverged; diverged trials come last, with NaN scores).
        Ranked by the objective, highest first, ties broken by the lower loss.

    Raises
    ------
    ValueError
        Before any training: a name of `param_space` or `fixed` that is not a setting, or that no optimizer of the
        search reads (the message lists the settings it can vary), or a bad distribution or argument.
    """
    _check_objective(objective)
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, numbers.Integral) or n_jobs == 0:
        raise ValueError(f"`n_jobs` must be a non-zero integer (-1: all cores), got {n_jobs!r}")
    _check_threads_per_trial(threads_per_trial, n_jobs, n_trials, backend)
    trials = sample_trials(param_space, n_trials, seed)
    _check_names(param_space, fixed)
    dataset = check_dataset(dataset)
    arrays = tuple(np.asarray(getattr(dataset, name)) for name in ("train_X", "train_y", "val_X", "val_y"))
    # The arrays go as separate arguments: joblib's dask backend then sends each to the cluster once.
    tasks = (delayed(_run_trial)(index, *arrays, params, fixed, trial_seed, threads_per_trial)
             for index, (params, trial_seed) in enumerate(trials))
    rows = Parallel(n_jobs=n_jobs, backend=backend, verbose=verbose)(tasks)
    return rank(rows, objective)


def sample_trials(param_space, n_trials, seed):
    """Draw every trial's parameters and seed, up front and in order.

    Trial k's parameters and seed do not depend on `n_trials`: a longer search starts with the shorter one.

    Parameters
    ----------
    param_space : dict of name -> distribution
        As for `random_search`.
    n_trials : int
    seed : int >= 0
        Parameters come from `default_rng(SeedSequence(seed))`, in trial order and `param_space` order.

    Returns
    -------
    list of (params, seed) of length n_trials
        params : dict of name -> value drawn; seed : int, from `SeedSequence(seed).spawn(n_trials)`.
    """
    _check_space(param_space)
    n_trials = check_int(n_trials, "n_trials", 1)
    root = np.random.SeedSequence(check_int(seed, "seed", 0))
    rng = np.random.default_rng(root)
    params = [{name: _draw(spec, rng) for name, spec in param_space.items()} for _ in range(n_trials)]
    seeds = [int(child.generate_state(1)[0]) for child in root.spawn(n_trials)]
    return list(zip(params, seeds))


def rank(rows, objective="val_acc"):
    """Sort trial rows best first and number them: higher `objective`, then lower loss; diverged trials last.

    Parameters
    ----------
    rows : list of dict
        Rows as `random_search` makes them (keys trial, val_acc, train_acc, loss, status, ...); rows already
        ranked are ranked again, e.g. `rank(results, "train_acc")`.
    objective : {'val_acc', 'train_acc'}

    Returns
    -------
    list of dict, best first
        Each a copy of its row whose keys start with rank (from 1), the objective, the other accuracy and loss;
        `print_table` reads the objective from that second key.
    """
    _check_objective(objective)
    first = ("rank", objective, *(name for name in OBJECTIVES if name != objective), "loss")

    def key(row):
        if row["status"] != "ok":
            return True, 0.0, 0.0, row["trial"]
        return False, -row[objective], row["loss"], row["trial"]

    ordered = sorted(rows, key=key)
    return [{"rank": position, **{name: row[name] for name in first[1:]},
             **{name: value for name, value in row.items() if name not in first}}
            for position, row in enumerate(ordered, start=1)]


def to_csv(results, path):
    """Write the rows of `random_search` to the CSV file `path`, one line per trial, in their order."""
    _check_results(results)
    with open(path, "w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=list(results[0]))
        writer.writeheader()
        writer.writerows(results)


def print_table(results, max_rows=None, file=None):
    """Print the rows of `random_search` as an aligned text table (the first `max_rows` when given).

    Rows ordered by `rank` come under the line "ranked by <objective>, highest first (ties: lowest loss)", the
    objective's column right after rank. Each column of numbers has one format: integers as they are, other
    numbers with 4 decimals, or all in e-notation with 3 significant digits when one of them is below 0.01 or
    at least 1e6 (learning rates, for instance).
    """
    _check_results(results)
    rows = results if max_rows is None else results[:check_int(max_rows, "max_rows", 1)]
    columns = list(results[0])
    formats = {column: _column_format([row[column] for row in rows]) for column in columns}
    cells = [[formats[column](row[column]) for column in columns] for row in rows]
    widths = [max(len(column), *(len(line[k]) for line in cells)) for k, column in enumerate(columns)]
    lines = [f"ranked by {columns[1]}, highest first (ties: lowest loss)"] if _ranked_by(columns) else []
    lines.append("  ".join(column.rjust(width) for column, width in zip(columns, widths)))
    lines += ["  ".join(cell.rjust(width) for cell, width in zip(line, widths)) for line in cells]
    if len(rows) < len(results):
        lines.append(f"... {len(results) - len(rows)} more")
    print("\n".join(lines), file=file or sys.stdout)


def _check_threads_per_trial(threads_per_trial, n_jobs, n_trials, backend):
    """`threads_per_trial` an int >= 1 whose product with the trials run at once fits this machine's cores when it
    is above 1 (not checked on a Dask cluster, whose workers have cores of their own)."""
    threads_per_trial = check_int(threads_per_trial, "threads_per_trial", 1)
    cores = threads.available_cores()
    at_once = min(n_trials, n_jobs if n_jobs > 0 else max(1, cores + 1 + n_jobs))  # joblib's count for n_jobs < 0
    if backend != "dask" and threads_per_trial > 1 and at_once * threads_per_trial > cores:
        raise ValueError(f"`threads_per_trial` {threads_per_trial} times the {at_once} trials run at once (n_jobs "
                         f"{n_jobs}) exceeds the {cores} cores of this machine: lower one of them")


def _run_trial(index, train_X, train_y, val_X, val_y, params, fixed, seed, n_threads):
    """One training on `n_threads` threads; its row of the results table."""
    start = time.perf_counter()
    params = _used(params, fixed)
    with threads.limit(n_threads):
        try:
            _, trainer = train_model(Dataset(train_X, train_y, val_X, val_y), **params, **fixed, seed=seed)
            history, status = trainer.history, "ok"
        except TrainingDivergedError as error:
            history, status = [], f"diverged at epoch {error.epoch}"
    return {
        "trial": index,
        "val_acc": max((record["val_acc"] for record in history), default=np.nan),
        "train_acc": max((record["train_acc"] for record in history), default=np.nan),
        "loss": history[-1]["loss"] if history else np.nan,
        **params,
        "seed": seed,
        "seconds": time.perf_counter() - start,
        "status": status,
    }


def _used(params, fixed):
    """`params` with None for each setting that the trial's optimizer or architecture does not read."""
    chosen = {selector: params.get(selector, fixed.get(selector, default)) for selector, _, default, _ in SELECTORS}
    return {name: value if all(chosen[selector] in table.get(name, (chosen[selector],))
                               for selector, _, _, table in SELECTORS) else None
            for name, value in params.items()}


def _draw(spec, rng):
    kind = spec[0]
    if kind == "log":
        return float(np.exp(rng.uniform(np.log(spec[1]), np.log(spec[2]))))
    if kind == "uniform":
        return float(rng.uniform(spec[1], spec[2]))
    if kind == "int":
        return int(rng.integers(spec[1], spec[2], endpoint=True))
    options = spec[1]
    return options[int(rng.integers(len(options)))]


def _check_objective(objective):
    if objective not in OBJECTIVES:
        raise ValueError(f"`objective` must be one of {', '.join(OBJECTIVES)}, got {objective!r}")


def _check_space(param_space):
    if not isinstance(param_space, dict) or not param_space:
        raise TypeError(f"`param_space` must be a non-empty dict of name -> distribution, got {param_space!r}")
    for name, spec in param_space.items():
        _check_spec(name, spec)


def _check_spec(name, spec):
    """Raise unless `spec` is one of the four distributions, with valid bounds or options."""
    where = f"`param_space[{name!r}]`"
    if not isinstance(spec, (tuple, list)) or not spec or spec[0] not in DISTRIBUTIONS:
        raise ValueError(f"{where} must be ('log', low, high), ('uniform', low, high), ('int', low, high) or "
                         f"('choice', options), got {spec!r}")
    kind = spec[0]
    if kind == "choice":
        if len(spec) != 2 or isinstance(spec[1], str) or not hasattr(spec[1], "__len__") or not len(spec[1]):
            raise ValueError(f"{where} must be ('choice', options) with a non-empty list of options, got {spec!r}")
        return
    number = numbers.Integral if kind == "int" else numbers.Real
    if len(spec) != 3 or not all(isinstance(v, number) and not isinstance(v, bool) for v in spec[1:]):
        raise ValueError(f"{where} must be ({kind!r}, low, high) with {'integer' if kind == 'int' else 'real'} "
                         f"bounds, got {spec!r}")
    low, high = spec[1:]
    if not (np.isfinite(low) and np.isfinite(high) and low <= high and (kind != "log" or low > 0)):
        rule = "0 < low <= high" if kind == "log" else "low <= high, both finite"
        raise ValueError(f"{where} must have {rule}, got {spec!r}")


def _check_names(param_space, fixed):
    """Raise unless every searched or fixed setting is an argument of train_model that an optimizer and an
    architecture of the search read, none is both searched and fixed, and schedule and lr_decay are not both set."""
    for where, names in (("`param_space`", param_space), ("the fixed arguments", fixed)):
        unknown = [name for name in names if name not in SETTINGS]
        if unknown:
            raise ValueError(f"unknown hyperparameter {unknown[0]!r} in {where}: a search can set "
                             f"{', '.join(SETTINGS)}")
    both = sorted(set(param_space) & set(fixed))
    if both:
        raise ValueError(f"{both[0]!r} is both searched (in `param_space`) and fixed; keep one")
    chosen = {selector: _choices(selector, options, default, param_space, fixed)
              for selector, options, default, _ in SELECTORS}

    def unread_by(name):
        """The entry of SELECTORS none of whose values in the search reads `name`, or None."""
        return next((entry for entry in SELECTORS
                     if not set(entry[3].get(name, chosen[entry[0]])) & set(chosen[entry[0]])), None)

    accepted = [name for name in SETTINGS if unread_by(name) is None]
    for where, names in (("`param_space` sets", param_space), ("the fixed arguments set", fixed)):
        unused = [name for name in names if name not in accepted]
        if unused:
            selector, _, _, table = unread_by(unused[0])
            choices = " or ".join(repr(name) for name in chosen[selector])
            readers = table[unused[0]]
            raise ValueError(f"{where} {unused[0]!r}, which {selector} {choices} does not use (only "
                             f"{', '.join(map(repr, readers))} {'does' if len(readers) == 1 else 'do'}): with "
                             f"{selector} {choices} a search can set {', '.join(accepted)}")
    if {"schedule", "lr_decay"} <= set(param_space) | set(fixed):
        raise ValueError("`schedule` and `lr_decay` cannot both be set: a schedule sets the learning rate of every "
                         "epoch (lr_decay is 1 with it); search one of them")


def _choices(selector, options, default, param_space, fixed):
    """The values `selector` ('optim' or 'arch') takes in the trials: the choices of `param_space`, else the fixed
    one, else `default`."""
    if selector not in param_space:
        value = fixed.get(selector, default)
        if value not in options:
            raise ValueError(f"`{selector}` must be one of {', '.join(options)}, got {value!r}")
        return [value]
    spec = param_space[selector]
    if spec[0] != "choice":
        raise ValueError(f"`param_space[{selector!r}]` must be ('choice', names) with names among "
                         f"{', '.join(options)}, got {spec!r}")
    unknown = [name for name in spec[1] if name not in options]
    if unknown:
        raise ValueError(f"`param_space[{selector!r}]` must choose among {', '.join(options)}, got {unknown[0]!r}")
    return list(dict.fromkeys(spec[1]))


def _check_results(results):
    if not isinstance(results, list) or not results or not all(isinstance(row, dict) for row in results):
        raise ValueError("`results` must be the non-empty list of dicts that random_search returns")


def _ranked_by(columns):
    """Whether `columns` are those of rows ordered by `rank`: rank, then the objective."""
    return len(columns) > 1 and columns[0] == "rank" and columns[1] in OBJECTIVES


def _column_format(values):
    """One formatting function for every value of a table column (see `print_table`)."""
    reals = [value for value in values if isinstance(value, numbers.Real) and not isinstance(value, bool)]
    if all(isinstance(value, numbers.Integral) for value in reals):
        return str
    sizes = [abs(value) for value in reals if np.isfinite(value) and value != 0]
    spec = ".4f" if all(0.01 <= size < 1e6 for size in sizes) else ".2e"

    def format_value(value):
        is_real = isinstance(value, numbers.Real) and not isinstance(value, bool)
        return format(float(value), spec) if is_real else str(value)
    return format_value

"""The points of the checks and the score of a report: the same for a learner's run and a teacher's grading.

The default table gives each assignment module a weight (MODULE_WEIGHTS, 100 in all) shared equally by its checks;
a points file (JSON or TOML) replaces it: each key, a check id or an id prefix, gives its points to the checks it
covers, shared equally (a check id covers one check; "MaxPoolingLayer." covers every max-pooling check). A check
takes the key of the longest prefix that covers it; a check that no key covers is worth 0. Points are kept in
hundredths, so that the shares add up to their key's points exactly.

The rule (RULE): a check that passes earns its points, and so does one reported `info` that is not a speed check (a
rule of the learner's that differs from ours but is consistent); fail, error, timeout, not implemented and missing
earn 0. Speed checks are `info`, measured, never worth points: a score never depends on timing.
"""
import json
import os

from selfcheck.base import MODULES

#: Each module's share of the default 100 points: the share of the assignment's work and of what it teaches.
#: layers: every layer's forward and backward, most of the code and the hardest part (convolution, pooling);
#: model: the network assembled, its loss and its gradients; trainer: the training loop, batches and decay;
#: gradient_check: the tool that every other gradient is verified with; optim: SGD and momentum, short but central;
#: dataset and metrics: the data loader and the scores, small utilities.
MODULE_WEIGHTS = {"layers": 40, "model": 15, "trainer": 12, "gradient_check": 10, "optim": 8, "dataset": 8,
                  "metrics": 7}

RULE = ("a check that passes earns its points, and so does an `info` that is not a speed check (a consistent rule "
        "that differs from ours); fail, error, timeout, not implemented and missing earn 0; speed checks are never "
        "worth points")

#: The statuses that earn a check's points.
EARNING = ("pass", "info")


def default_points(registry):
    """The default table: check id -> points, each module's MODULE_WEIGHTS shared by its checks (speed excluded).

    Parameters
    ----------
    registry : dict
        check id -> base.Check (worker.load_checks()).

    Returns
    -------
    dict
        check id -> float, in registry order, hundredths that add up to exactly 100 over every module.
    """
    return _shared({module: MODULE_WEIGHTS[module] for module in MODULES},
                   {check.id: check.module for check in registry.values() if not check.speed})


def points_table(file, registry):
    """The table of the points file `file`, or the default table when `file` is None or "default"."""
    return default_points(registry) if file in (None, "default") else load_points(file, registry)


def load_points(file, registry):
    """The table of a points file: check id -> points for every check of `registry` that is not a speed check.

    Parameters
    ----------
    file : str or os.PathLike
        A .json or .toml file of one table {check id or id prefix: points}; nested tables are joined with dots
        (TOML's `ConvolutionalLayer.forward.values = 2` is the id).
    registry : dict
        check id -> base.Check.

    Raises
    ------
    FileNotFoundError, ValueError, TypeError
        No such file; not JSON or TOML; a key that covers no check (or speed checks only); points that are not a
        number >= 0.
    """
    table = _flattened(_read(file), file)
    gradable = [check.id for check in registry.values() if not check.speed]
    owners = {}
    for check_id in gradable:
        keys = [key for key in table if check_id.startswith(key)]
        if keys:
            owners[check_id] = max(keys, key=len)
    idle = [key for key in table if key not in owners.values()]
    if idle:
        speed = any(check.id.startswith(idle[0]) for check in registry.values())
        why = "covers speed checks only, which are never worth points" if speed else \
            "is neither a check id nor the prefix of one (python check_solution.py --list lists them)"
        raise ValueError(f"points file {os.fspath(file)!r}: the key {idle[0]!r} {why}")
    shares = _shared(table, owners)
    return {check_id: shares.get(check_id, 0.0) for check_id in gradable}


def score(checks, points):
    """The score of a report's checks under `points`.

    Parameters
    ----------
    checks : list of dict
        A report's entries ("id", "module", "status").
    points : dict
        check id -> points (default_points or load_points); a check it lacks (a speed check) is worth 0.

    Returns
    -------
    dict
        {"score", "max_score", "modules": {module: {"score", "max_score"}} for the modules of `checks`}, sums of
        hundredths, each entry of `checks` given "points" and "earned".
    """
    hundredths = {}  # module -> [earned, worth], in hundredths: sums that never depend on the order
    for entry in checks:
        worth = points.get(entry["id"], 0.0)
        entry["points"], entry["earned"] = worth, worth if entry["status"] in EARNING else 0.0
        total = hundredths.setdefault(entry["module"], [0, 0])
        total[0] += round(entry["earned"] * 100)
        total[1] += round(worth * 100)
    return {"score": sum(earned for earned, _ in hundredths.values()) / 100,
            "max_score": sum(worth for _, worth in hundredths.values()) / 100,
            "modules": {module: {"score": earned / 100, "max_score": worth / 100}
                        for module, (earned, worth) in hundredths.items()}}


def score_line(grade):
    """"Score: 87.5 / 100 (layers 38.2 / 40, model 15 / 15, ...)"."""
    parts = ", ".join(f"{module} {format_points(total['score'])} / {format_points(total['max_score'])}"
                      for module, total in grade["modules"].items())
    return f"Score: {format_points(grade['score'])} / {format_points(grade['max_score'])} ({parts})"


def format_points(value):
    """`value` with at most two decimals and no trailing zeros: 87.5, 100, 1.22."""
    return f"{value:.2f}".rstrip("0").rstrip(".")


def _shared(totals, owners):
    """key -> points shared by the ids that `owners` (id -> key) gives it, in hundredths that add up exactly; the
    first ids get the remainder's hundredths."""
    shares = {}
    for key, total in totals.items():
        ids = [check_id for check_id, owner in owners.items() if owner == key]
        hundredths, remainder = divmod(round(total * 100), len(ids)) if ids else (0, 0)
        for index, check_id in enumerate(ids):
            shares[check_id] = (hundredths + (index < remainder)) / 100
    return {check_id: shares[check_id] for check_id in owners}


def _read(file):
    """The parsed JSON or TOML of `file`."""
    name = os.fspath(file)
    if not os.path.isfile(name):
        raise FileNotFoundError(f"the points file must be an existing .json or .toml file, got {name!r}")
    with open(name, "rb") as handle:
        data = handle.read()
    try:
        if name.lower().endswith(".toml"):
            import tomllib  # Python 3.11; only a .toml points file needs it
            return tomllib.loads(data.decode("utf-8"))
        return json.loads(data)
    except (ValueError, UnicodeDecodeError) as error:
        kind = "TOML" if name.lower().endswith(".toml") else "JSON"
        raise ValueError(f"points file {name!r} is not valid {kind}: {error}") from None


def _flattened(table, file, prefix=""):
    """{key: points} of a table whose nested tables' keys are joined with dots; points checked."""
    if not isinstance(table, dict):
        raise TypeError(f"points file {os.fspath(file)!r} must hold a table {{check id or prefix: points}}, got "
                        f"{type(table).__name__}")
    flat = {}
    for key, value in table.items():
        if isinstance(value, dict):
            flat.update(_flattened(value, file, f"{prefix}{key}."))
        elif isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < float("inf"):
            raise ValueError(f"points file {os.fspath(file)!r}: the points of {prefix + key!r} must be a number >= 0, "
                             f"got {value!r}")
        else:
            flat[prefix + key] = float(value)
    return flat

"""`python -m bench --threads 1 2 ...`: the training step of every model at each thread count, ours and PyTorch's,
each side in a process of its own.

For every (model, dtype) the runs take turns: in each of `ROUNDS` rounds, for each thread count, a fresh process
times our step, then a fresh process times torch's (`--warmup` untimed steps, then the median of `--repeats`). Each
process gets the thread count through the environment before numpy or torch load (`NUMPY_CNN_NUM_THREADS`,
`OPENBLAS_NUM_THREADS`, `OMP_NUM_THREADS`, `MKL_NUM_THREADS`) and `torch.set_num_threads`. A figure is the median
of its rounds; the spread is (slowest - fastest) / median of those rounds. Our process also reports the peak memory
of two steps (tracemalloc), timed apart.
"""
import json
import os
import statistics
import subprocess
import sys
import time

SIDES = ("ours", "torch")
ROUNDS = 3
THREAD_VARIABLES = ("NUMPY_CNN_NUM_THREADS", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def scaling_rows(cases, counts, batch, repeats, warmup, with_torch, progress=print):
    """One row per (model label, dtype, thread count) of `cases`, a list of (label, dtype) with label "lenet",
    "vgg" or a ConvNet channel pair "16x32".

    Returns a list of dicts: label, dtype, threads, ours and torch (median seconds, torch None without it),
    ours_spread and torch_spread (fractions), ours_peak_mb.
    """
    sides = SIDES if with_torch else SIDES[:1]
    rows = []
    for label, dtype in cases:
        runs = {(side, count): [] for side in sides for count in counts}
        for round_index in range(ROUNDS):
            for count in counts:
                progress(f"{label} {dtype}, {count} thread{'s' * (count > 1)}, round {round_index + 1}/{ROUNDS}")
                for side in sides:
                    runs[side, count].append(_run_side(side, label, dtype, count, batch, repeats, warmup))
        for count in counts:
            row = {"label": label, "dtype": dtype, "threads": count, "torch": None, "torch_spread": None}
            for side in sides:
                seconds = [run["seconds"] for run in runs[side, count]]
                row[side] = statistics.median(seconds)
                row[f"{side}_spread"] = (max(seconds) - min(seconds)) / row[side]
            row["ours_peak_mb"] = statistics.median(run["peak_mb"] for run in runs["ours", count])
            rows.append(row)
    return rows


def table(rows, counts):
    """(headers, rows of strings): each row's times, ratio, spreads, peak memory, and each side's speed-up from
    the first thread count to this row's."""
    first = {(row["label"], row["dtype"]): row for row in rows if row["threads"] == counts[0]}
    headers = ["model", "dtype", "threads", "ours", "torch", "ours/torch", f"ours x{counts[0]}->N",
               f"torch x{counts[0]}->N", "spread ours", "spread torch", "ours peak MB"]
    lines = []
    for row in rows:
        base = first[row["label"], row["dtype"]]
        torch_speedup = None if row["torch"] is None else base["torch"] / row["torch"]
        lines.append([_label(row["label"]), row["dtype"], str(row["threads"]), _ms(row["ours"]), _ms(row["torch"]),
                      _ratio(row["torch"] and row["ours"] / row["torch"]), _ratio(base["ours"] / row["ours"]),
                      _ratio(torch_speedup), _percent(row["ours_spread"]), _percent(row["torch_spread"]),
                      f"{row['ours_peak_mb']:.1f}"])
    return headers, lines


def child(argv):
    """In a process of its own: time one side's step and print {"seconds", "peak_mb"} as JSON.

    argv: side, label, dtype, threads, batch, repeats, warmup.
    """
    side, label, dtype, count, batch, repeats, warmup = argv[0], argv[1], argv[2], *map(int, argv[3:])
    from bench import models as bench_models  # here, after the environment set the threads
    from bench import run as bench
    if bench.torch is not None:
        bench.torch.set_num_threads(count)
    step, peak_step = _step(bench, bench_models, side, label, dtype, batch)
    seconds = bench.time_interleaved([{side: step}], repeats, warmup)[side]
    peak_mb = bench._peak_memory(peak_step) / 1e6 if side == "ours" else None
    print(json.dumps({"seconds": seconds, "peak_mb": peak_mb}))


def _step(bench, bench_models, side, label, dtype, batch):
    """The step of `side` to time, and (ours) a fresh model's step for the peak memory."""
    X, y = bench_models.make_batch(batch, dtype)
    if label in bench_models.MODELS:
        if side == "ours":
            step, fresh = (bench_models.momentum_step(bench_models.make_sequential(label, dtype)) for _ in range(2))
            return lambda: step(X, y), lambda: fresh(X, y)
        their_step = bench_models.torch_momentum_step(bench_models.torch_sequential(
            bench_models.make_sequential(label, dtype)))
        x, target = bench_models.to_torch(X), bench.torch.from_numpy(y)
        return lambda: their_step(x, target), None
    config = tuple(int(part) for part in label.split("x"))
    model = bench_models.make_model(config, dtype)
    if side == "ours":
        fresh = bench_models.make_model(config, dtype)
        return lambda: bench_models.our_step(model, X, y), lambda: bench_models.our_step(fresh, X, y)
    net = bench_models.torch_model(model)
    optimizer = bench.torch.optim.SGD(net.parameters(), lr=bench_models.LEARNING_RATE)
    x, target = bench_models.to_torch(X), bench.torch.from_numpy(y)
    return lambda: bench_models.torch_step(net, optimizer, x, target), None


def _run_side(side, label, dtype, count, batch, repeats, warmup):
    """The JSON result of `child` run in a fresh Python with `count` threads everywhere."""
    env = dict(os.environ, **{name: str(count) for name in THREAD_VARIABLES})
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # the repository
    code = "import sys; from bench import scaling; scaling.child(sys.argv[1:])"
    arguments = [side, label, dtype, str(count), str(batch), str(repeats), str(warmup)]
    time.sleep(0.1)  # let the previous process's spinning threads go
    done = subprocess.run([sys.executable, "-c", code, *arguments], cwd=here, env=env, capture_output=True,
                          text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"timing {side} {label} {dtype} on {count} threads failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _label(label):
    return f"{label}()" if not label[0].isdigit() else f"ConvNet({label.replace('x', ', ')})"


def _ms(seconds):
    return "-" if seconds is None else f"{seconds * 1e3:.1f} ms"


def _ratio(value):
    return "-" if value is None else f"{value:.2f}x"


def _percent(value):
    return "-" if value is None else f"{value:.0%}"

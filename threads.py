"""How many threads the package computes on, and the pool that runs its kernels chunk by chunk.

The policy is one number, `get_num_threads()`: read at import from the environment variable
`NUMPY_CNN_NUM_THREADS` when it is set, else the cores this process may run on (`os.sched_getaffinity`), and changed
with `set_num_threads(n)`, or inside a `with limit(n):` block for the thread that runs it (each of the trials that
`search.py` runs on joblib's threads keeps its own). It governs three pools of threads:

- this module's pool (a `ThreadPoolExecutor` made on first use), which runs the chunks of a kernel's batch or rows
  at once: the calling thread takes the first chunk, `n - 1` workers the others;
- numpy's and scipy's OpenBLAS pools (their wheels bundle one each), through `threadpoolctl` when it is installed:
  `n` threads for a product made on the calling thread, and 1 while chunks run, so that the process never has
  more than `n` busy threads. Without threadpoolctl the BLAS pools are left as they are.

Kernels split their work with `chunks(n_items, item_size)`, which gives one chunk when the work is small or on a
thread that is already running a chunk, and run it with `run(function, chunks)`. The chunks depend on the sizes and
the thread count only, never on timing, and `run` returns the results in chunk order: sums across chunks added in
that order are bitwise the same from run to run for a given thread count.
"""
import concurrent.futures
import contextlib
import os
import threading

import scipy.linalg.blas  # noqa: F401  (loads scipy's OpenBLAS, so that the policy governs that pool from the start)

from validation import check_int

try:
    import threadpoolctl
except ImportError:  # optional: without it the BLAS pools keep their own thread counts
    threadpoolctl = None

ENV_VARIABLE = "NUMPY_CNN_NUM_THREADS"
# A chunk holds at least this many array elements: below it, handing a chunk to a worker costs more than it saves.
# Handing chunks to the pool costs about 75 us (2 threads, quiet 2-core EPYC); np.maximum on 2**21 float32 took
# 794 us on one thread and 550 us in 2 chunks, on 2**19 193 us and 233 us.
MIN_CHUNK_ELEMENTS = 1 << 19
# What a BLAS multiply-add counts for in `chunks`' item sizes, in elements of an elementwise pass: sgemm ran at about
# 35 multiply-adds per ns, np.maximum at 2.6 elements per ns, on one thread.
ELEMENTS_PER_MULTIPLY_ADD = 1 / 13

_lock = threading.RLock()
_local = threading.local()  # `.in_chunk` is True on a thread while it runs a chunk
_state = {"threads": 1, "executor": None, "executor_threads": 0}
# What sets the BLAS pools: chunks running (1 thread), then the latest active `limit`, else the counts they had
# when the first of these began (kept in "base").
_blas = {"chunk_runs": 0, "limits": [], "base": None}


def available_cores():
    """The number of cores this process may run on (its CPU affinity where the OS tells it)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def get_num_threads():
    """The number of threads the package computes on (on this thread, inside a `limit` block)."""
    return getattr(_local, "limit", None) or _state["threads"]


def set_num_threads(n):
    """Compute on `n` threads from now on: the chunk pool and both OpenBLAS pools (int >= 1). Inside a `limit`
    block or a run of chunks, the BLAS pools get `n` threads when it ends."""
    n = check_int(n, "n", 1)
    with _lock:
        _state["threads"] = n
        if _blas["chunk_runs"] or _blas["limits"]:
            _blas["base"] = [n] * len(_blas_controllers())
        else:
            _set_blas_threads(n)


@contextlib.contextmanager
def limit(n):
    """Compute on `n` threads inside the `with` block, on the thread that enters it (int >= 1).

    The BLAS pools have `n` threads meanwhile (those of the latest block when several threads are inside one) and
    get back their thread counts of before when the last block ends.
    """
    n = check_int(n, "n", 1)
    previous, entry = getattr(_local, "limit", None), [n]
    _local.limit = n
    with _lock:
        _blas_begin()
        _blas["limits"].append(entry)
        _blas_apply()
    try:
        yield
    finally:
        _local.limit = previous
        with _lock:
            _blas["limits"].remove(entry)
            _blas_apply()


def chunks(n_items, item_size=1):
    """Split `range(n_items)` into consecutive slices to run at once, at most one per thread.

    Parameters
    ----------
    n_items : int >= 0
        Images of a batch, rows of a matrix, ...
    item_size : int >= 1
        Array elements one item stands for (its share of the work).

    Returns
    -------
    list of slices, of lengths differing by at most 1, covering `range(n_items)` in order, each of at least
    `MIN_CHUNK_ELEMENTS` elements; a single slice on a thread that is already running a chunk.
    """
    n_chunks = min(get_num_threads(), n_items, n_items * item_size // MIN_CHUNK_ELEMENTS)
    if n_chunks <= 1 or getattr(_local, "in_chunk", False):
        return [slice(0, n_items)]
    bounds = [n_items * index // n_chunks for index in range(n_chunks + 1)]
    return [slice(start, stop) for start, stop in zip(bounds, bounds[1:])]


def run(function, parts):
    """`[function(part) for part in parts]`, the parts run at once when there are several.

    The calling thread runs the first part and the pool's workers the others, each with single-threaded BLAS. A
    single part runs with single-threaded BLAS too (at a policy above 1): the package's threads are its parallelism,
    and OpenBLAS's own workers, which spin for about 100 ms after each call they share, would take the cores from
    them (a vgg() backward pass after one 2-thread product of its last layer was not faster on 2 threads than on 1).
    Every part has finished when `run` returns or raises (the first exception, in part order, is raised).
    """
    if get_num_threads() == 1 or getattr(_local, "in_chunk", False):
        return [function(part) for part in parts]
    with _single_threaded_blas():
        if len(parts) == 1:
            return [function(parts[0])]
        executor = _executor(len(parts) - 1)
        futures = [executor.submit(_run_chunk, function, part) for part in parts[1:]]
        try:
            first = _run_chunk(function, parts[0])
        finally:
            concurrent.futures.wait(futures)
        return [first] + [future.result() for future in futures]


def map_rows(function, n_items, item_size=1):
    """`run(function, chunks(n_items, item_size))`: the results of `function(rows)` for each chunk of rows."""
    return run(function, chunks(n_items, item_size))


def sum_in_order(parts):
    """`parts[0] + parts[1] + ...`, added in that order (the same bits every run for the same parts)."""
    total = parts[0]
    for part in parts[1:]:
        total = total + part
    return total


def _run_chunk(function, part):
    _local.in_chunk = True
    try:
        return function(part)
    finally:
        _local.in_chunk = False


def _executor(workers):
    """The pool, with at least `workers` threads (a smaller one is replaced)."""
    with _lock:
        if _state["executor_threads"] < workers:
            if _state["executor"] is not None:
                _state["executor"].shutdown(wait=False)
            _state["executor"] = concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="numpy-cnn")
            _state["executor_threads"] = workers
        return _state["executor"]


@contextlib.contextmanager
def _single_threaded_blas():
    """BLAS on one thread while any thread runs chunks."""
    with _lock:
        _blas_begin()
        _blas["chunk_runs"] += 1
        _blas_apply()
    try:
        yield
    finally:
        with _lock:
            _blas["chunk_runs"] -= 1
            _blas_apply()


def _blas_begin():
    """Keep the BLAS pools' thread counts when nothing (no chunk run, no `limit`) has set them yet."""
    if _blas["chunk_runs"] == 0 and not _blas["limits"]:
        _blas["base"] = _blas_threads()


def _blas_apply():
    """Set the BLAS pools as `_blas` says: 1 thread while chunks run, else the latest `limit`'s, else as before."""
    if _blas["chunk_runs"]:
        _set_blas_threads(1)
    elif _blas["limits"]:
        _set_blas_threads(_blas["limits"][-1][0])
    else:
        for library, count in zip(_blas_controllers(), _blas["base"]):
            library.set_num_threads(count)


def _forget_the_pool():
    """In a child made by fork: the pool's threads were not copied, so a new pool (and lock) is made on next use."""
    global _lock
    _lock = threading.RLock()
    _state["executor"], _state["executor_threads"] = None, 0


def _blas_controllers():
    """threadpoolctl's controllers of the BLAS libraries loaded in this process (none without threadpoolctl)."""
    if threadpoolctl is None:
        return []
    controller = _state.get("controller")
    if controller is None:
        controller = _state["controller"] = threadpoolctl.ThreadpoolController().select(user_api="blas")
    return controller.lib_controllers


def _blas_threads():
    return [library.get_num_threads() for library in _blas_controllers()]


def _set_blas_threads(n):
    for library in _blas_controllers():
        library.set_num_threads(n)


def _threads_from_environment():
    """The policy at import: `NUMPY_CNN_NUM_THREADS` when set, else `available_cores()`."""
    text = os.environ.get(ENV_VARIABLE, "").strip()
    if not text:
        return available_cores()
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise ValueError(f"the environment variable {ENV_VARIABLE} must be a positive integer (the threads the "
                         f"package computes on), got {text!r}")
    return value


def _apply_at_import():
    """Take the policy from the environment; lower (never raise) a BLAS pool that has more threads than it."""
    _state["threads"] = _threads_from_environment()
    for library in _blas_controllers():
        if library.get_num_threads() > _state["threads"]:
            library.set_num_threads(_state["threads"])


_apply_at_import()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_the_pool)

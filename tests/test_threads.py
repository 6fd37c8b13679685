"""threads.py: the thread policy, the BLAS pools it governs, the chunks, and results that do not depend on timing.

Every model is run at 1, 2 and 3 threads with `MIN_CHUNK_ELEMENTS` lowered so that tiny batches are split too: the
runs agree to float rounding (float64 to 1e-12, float32 to 1e-5, relative to the largest value), and two runs at the
same thread count agree bit for bit.
"""
import os
import subprocess
import sys
import threading

import numpy as np
import pytest

import threads
from model import ConvNet, lenet, vgg

threadpoolctl = pytest.importorskip("threadpoolctl")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOLERANCE = {np.float64: 1e-12, np.float32: 1e-5}
MODELS = {
    "vgg": lambda dtype: vgg((16, 16, 3), widths=(4, 8, 16), dtype=dtype, seed=0),
    "lenet": lambda dtype: lenet((16, 16, 3), dtype=dtype, seed=0),
    "convnet": lambda dtype: ConvNet((16, 16, 3), 10, 8, 16, dtype=dtype, seed=0),
}
STEPS, LEARNING_RATE = 20, 0.05


@pytest.fixture
def small_chunks(monkeypatch):
    """Chunks of a few elements, so that the tiny test batches are split among the threads."""
    monkeypatch.setattr(threads, "MIN_CHUNK_ELEMENTS", 16)
    previous = threads.get_num_threads()
    yield
    threads.set_num_threads(previous)


def blas_thread_counts():
    return [pool["num_threads"] for pool in threadpoolctl.threadpool_info() if pool["user_api"] == "blas"]


def run_in_python(code, **environment):
    """Run `code` in a fresh interpreter at the repository root; return its completed process."""
    env = {key: value for key, value in os.environ.items() if key != threads.ENV_VARIABLE}
    env.update(environment)
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=60)


# ------------------------------------------------------------------------------------------------------ the policy

def test_set_num_threads_sets_the_policy_and_both_blas_pools(small_chunks):
    assert len(blas_thread_counts()) >= 2, "numpy's and scipy's OpenBLAS should both be loaded"
    threads.set_num_threads(1)
    assert threads.get_num_threads() == 1 and set(blas_thread_counts()) == {1}
    threads.set_num_threads(2)
    assert threads.get_num_threads() == 2 and set(blas_thread_counts()) == {2}


def test_blas_runs_on_one_thread_inside_chunks_and_comes_back_after(small_chunks):
    threads.set_num_threads(2)
    seen = threads.run(lambda part: (threading.get_ident(), blas_thread_counts()), threads.chunks(2, item_size=16))
    assert len({ident for ident, _ in seen}) == 2                   # two threads ran the two chunks
    assert all(set(counts) == {1} for _, counts in seen)
    assert set(blas_thread_counts()) == {2}


def test_limit_restores_the_policy_and_the_pools():
    before, blas_before = threads.get_num_threads(), blas_thread_counts()
    with threads.limit(1):
        assert threads.get_num_threads() == 1 and set(blas_thread_counts()) == {1}
    assert threads.get_num_threads() == before and blas_thread_counts() == blas_before


def test_limit_holds_for_its_own_thread_and_nests(small_chunks):
    threads.set_num_threads(2)
    seen = {}
    with threads.limit(1):
        other = threading.Thread(target=lambda: seen.update(other=threads.get_num_threads()))
        other.start()
        other.join()
        with threads.limit(3):
            seen["inner"] = threads.get_num_threads(), blas_thread_counts()
        seen["outer"] = threads.get_num_threads(), blas_thread_counts()
    assert seen["other"] == 2 and seen["inner"][0] == 3 and seen["outer"][0] == 1
    assert set(seen["inner"][1]) == {3} and set(seen["outer"][1]) == {1}
    assert set(blas_thread_counts()) == {2}


@pytest.mark.parametrize("bad, error", [(0, ValueError), (-2, ValueError), (1.5, TypeError), (True, TypeError)])
def test_a_bad_thread_count_is_refused(bad, error):
    before = threads.get_num_threads()
    with pytest.raises(error, match="`n` must be"):
        threads.set_num_threads(bad)
    assert threads.get_num_threads() == before


def test_the_environment_variable_sets_the_policy_and_lowers_the_pools():
    code = ("import threads, threadpoolctl; print(threads.get_num_threads(), "
            "sorted({p['num_threads'] for p in threadpoolctl.threadpool_info() if p['user_api'] == 'blas'}))")
    done = run_in_python(code, NUMPY_CNN_NUM_THREADS="1")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split(None, 1) == ["1", "[1]\n"]
    done = run_in_python(code, NUMPY_CNN_NUM_THREADS=" 3 ")
    assert done.returncode == 0 and done.stdout.startswith("3 "), done.stderr


def test_the_default_is_the_cores_this_process_may_use():
    done = run_in_python("import os, threads; print(threads.get_num_threads(), len(os.sched_getaffinity(0)))")
    assert done.returncode == 0, done.stderr
    policy, cores = done.stdout.split()
    assert policy == cores


@pytest.mark.parametrize("bad", ["zero", "0", "-1", "2.5"])
def test_a_bad_environment_variable_is_a_value_error_naming_it(bad):
    done = run_in_python("import layers", NUMPY_CNN_NUM_THREADS=bad)
    assert done.returncode != 0
    assert "ValueError: the environment variable NUMPY_CNN_NUM_THREADS must be a positive integer" in done.stderr
    assert repr(bad) in done.stderr


def test_the_layers_work_without_threadpoolctl():
    code = ("import sys; sys.modules['threadpoolctl'] = None\n"
            "import numpy as np, threads\nfrom model import lenet\n"
            "threads.set_num_threads(2); threads.MIN_CHUNK_ELEMENTS = 16\n"
            "model = lenet(dtype=np.float32, seed=0)\n"
            "X = np.random.default_rng(0).standard_normal((4, 32, 32, 3)).astype(np.float32)\n"
            "print(np.isfinite(model.compute_loss_and_gradients(X, np.arange(4))))")
    done = run_in_python(code)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "True\n"


# ------------------------------------------------------------------------------------------------------ the chunks

@pytest.mark.parametrize("n_items, n_threads, lengths", [
    (10, 3, [3, 3, 4]), (2, 3, [1, 1]), (1, 4, [1]), (0, 2, [0]), (7, 1, [7]),
])
def test_chunks_cover_the_items_in_order(n_items, n_threads, lengths, small_chunks):
    threads.set_num_threads(n_threads)
    parts = threads.chunks(n_items, item_size=16)
    assert [part.stop - part.start for part in parts] == lengths
    assert parts[0].start == 0 and parts[-1].stop == n_items
    assert all(a.stop == b.start for a, b in zip(parts, parts[1:]))


def test_small_work_and_work_inside_a_chunk_stay_in_one_chunk(small_chunks):
    threads.set_num_threads(4)
    assert threads.chunks(8, item_size=1) == [slice(0, 8)]          # 8 elements < 16
    nested = threads.run(lambda part: threads.chunks(100, item_size=100), threads.chunks(2, item_size=16))
    assert nested == [[slice(0, 100)]] * 2


def test_run_waits_for_every_chunk_and_raises_the_first_error(small_chunks):
    threads.set_num_threads(3)
    finished = []

    def work(part):
        if part.start == 0:
            raise KeyError("first")
        finished.append(part.start)
        return part.start

    with pytest.raises(KeyError, match="first"):
        threads.run(work, threads.chunks(3, item_size=16))
    assert sorted(finished) == [1, 2]
    assert threads.run(lambda part: part.start, threads.chunks(3, item_size=16)) == [0, 1, 2]


def _chunk_starts_in_a_child(_):
    threads.MIN_CHUNK_ELEMENTS = 16
    return threads.run(lambda part: part.start, threads.chunks(2, item_size=16))


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork only")
def test_a_forked_child_gets_a_pool_of_its_own(small_chunks):
    import multiprocessing
    threads.set_num_threads(2)
    threads.run(lambda part: part, threads.chunks(2, item_size=16))   # the parent's pool has a worker now
    with multiprocessing.get_context("fork").Pool(1) as pool:
        assert pool.map_async(_chunk_starts_in_a_child, [0]).get(timeout=30) == [[0, 1]]


# --------------------------------------------------------------------------------------------------- determinism

def training_run(name, dtype, n_threads):
    """Forward scores, first gradients and the parameters after STEPS SGD steps of model `name`, at `n_threads`."""
    threads.set_num_threads(n_threads)
    model = MODELS[name](dtype)
    rng = np.random.default_rng(1)
    X = rng.standard_normal((6, 16, 16, 3)).astype(dtype)
    y = rng.integers(0, 10, 6)
    layers = list(model.layers.values())
    scores = X
    for layer in layers:
        scores = layer.forward(scores)
    results = {"scores": scores.copy()}
    for step in range(STEPS):
        results["loss", step] = np.array(model.compute_loss_and_gradients(X, y))
        for key, param in model.params().items():
            if step == 0:
                results["grad", key] = param.grad.copy()
            param.value -= LEARNING_RATE * param.grad
    results.update({("value", key): param.value.copy() for key, param in model.params().items()})
    return results


def assert_agree(actual, expected, dtype):
    """Each kind of array (scores, losses, gradients, values) agrees to `TOLERANCE` relative to its largest value
    in `expected` (a gradient that is zero in theory, as a bias before BatchNorm, is rounding noise)."""
    for kind in ("scores", "loss", "grad", "value"):
        keys = [key for key in expected if (key[0] if isinstance(key, tuple) else key) == kind]
        scale = max(float(np.max(np.abs(expected[key]))) for key in keys)
        for key in keys:
            np.testing.assert_allclose(actual[key], expected[key], rtol=0, atol=TOLERANCE[dtype] * scale,
                                       err_msg=str(key))


@pytest.mark.parametrize("name", sorted(MODELS))
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_one_two_and_three_threads_agree(name, dtype, small_chunks):
    one = training_run(name, dtype, 1)
    for n_threads in (2, 3):
        assert_agree(training_run(name, dtype, n_threads), one, dtype)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_the_same_thread_count_gives_the_same_bits(name, small_chunks, monkeypatch):
    split = []
    run = threads.run
    monkeypatch.setattr(threads, "run", lambda function, parts: split.append(len(parts)) or run(function, parts))
    first, second = training_run(name, np.float32, 3), training_run(name, np.float32, 3)
    assert max(split) == 3                                          # the work was split among the 3 threads
    for key in first:
        np.testing.assert_array_equal(second[key], first[key], err_msg=str(key))

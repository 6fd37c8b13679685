"""Smoke tests of the benchmarks (python -m bench) on a tiny configuration: it runs and prints every table. No timing
is asserted."""
import inspect
import types

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

import layers
from bench import models as bench_models
from bench import run as bench
from model import Sequential
from selfcheck.oracles import convolution

# One thread: two tiny runs side by side (pytest -n 2) or a busy machine make spinning worker threads 5x slower.
TINY = ["--quick", "--batch", "4", "--loop-batch", "2", "--configs", "2x2", "--dtypes", "float32", "--models",
        "--threads", "1"]
TITLES = ("Training step", "Layers", "per-pixel loop", "Peak memory", "Scaling", "Machine")


@pytest.fixture(autouse=True)
def no_settling(monkeypatch):
    monkeypatch.setattr(bench, "SETTLE_SECONDS", 0.0)


@pytest.fixture
def one_thread():
    """numpy's BLAS and torch (when installed) on one thread, as TINY's --threads 1 does for bench.main."""
    torch = bench.torch
    threads = None if torch is None else torch.get_num_threads()
    if torch is not None:
        torch.set_num_threads(1)
    try:
        with threadpool_limits(limits=1):
            yield
    finally:
        if torch is not None:
            torch.set_num_threads(threads)


def test_prints_every_table(capsys):
    bench.main(TINY)
    out = capsys.readouterr().out
    assert all(title in out for title in TITLES)
    assert all(f"  {layer}  " in out for layer in bench.LAYERS)


def test_markdown_tables(capsys):
    bench.main(TINY + ["--markdown"])
    out = capsys.readouterr().out
    assert "| channels | dtype | ours | torch | ours/torch | target | status |" in out
    assert "| --- | --- | ---: | ---: | ---: | ---: | ---: |" in out


def test_runs_without_torch(monkeypatch, capsys):
    monkeypatch.setattr(bench, "torch", None)
    bench.main(TINY)
    out = capsys.readouterr().out
    assert "torch not installed: comparison skipped" in out
    assert all(title in out for title in TITLES)


def test_threads_option_is_undone_afterwards(capsys):
    torch = pytest.importorskip("torch")
    threads = torch.get_num_threads()
    bench.main(TINY)
    assert "threads: limited to 1" in capsys.readouterr().out
    assert torch.get_num_threads() == threads


@pytest.mark.parametrize("padding", [0, 1, 2])
@pytest.mark.parametrize("compute_input_grad", [True, False])
def test_loop_convolution_matches_the_layer(padding, compute_input_grad):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((2, 7, 6, 3))
    layer = layers.ConvolutionalLayer(3, 4, 3, padding, seed=1, compute_input_grad=compute_input_grad)
    layer.B.value = rng.standard_normal(4)
    out = layer.forward(X)
    d_out = rng.standard_normal(out.shape)
    d_X = layer.backward(d_out)

    loop_d_X, loop_d_W, loop_d_B = bench_models.conv_backward_loop(d_out, X, layer.W.value, padding, compute_input_grad)
    loop_out = convolution(X, layer.W.value, layer.B.value, padding)
    np.testing.assert_allclose(loop_out, out, atol=1e-12)
    np.testing.assert_allclose(loop_d_W, layer.W.grad, atol=1e-12)
    np.testing.assert_allclose(loop_d_B, layer.B.grad, atol=1e-12)
    if compute_input_grad:
        np.testing.assert_allclose(loop_d_X, d_X, atol=1e-12)
    else:
        assert d_X is None and loop_d_X is None


def test_torch_model_is_equivalent():
    pytest.importorskip("torch")
    bench_models.check_equivalence((2, 3), batch=4)


def test_equivalence_check_fails_loudly(monkeypatch):
    torch = pytest.importorskip("torch")
    original = bench_models.torch_model

    def fc_rows_reversed(model):  # the layout mistake the check exists for
        net = original(model)
        with torch.no_grad():
            net.fc.weight.copy_(net.fc.weight.flip(1))
        return net
    monkeypatch.setattr(bench_models, "torch_model", fc_rows_reversed)
    with pytest.raises(RuntimeError, match=r"the torch model of \(2, 3\) is not ours: loss"):
        bench_models.check_equivalence((2, 3), batch=4)


def test_format_table_aligns_labels_left_and_numbers_right():
    table = bench.format_table(["name", "ms"], [["conv1", "1.25"], ["fc", "10.50"]], n_labels=1)
    assert table.splitlines() == ["name      ms", "-----  -----", "conv1   1.25", "fc     10.50"]


def test_help_speaks_to_the_user_not_to_the_tracker(capsys):
    with pytest.raises(SystemExit) as exit_info:
        bench.main(["--help"])
    out = capsys.readouterr().out
    assert exit_info.value.code == 0 and "PyTorch" in out
    assert "issue" not in out.lower() and "#" not in out


MODELS_TINY = ["--quick", "--batch", "4", "--configs", "--dtypes", "float32", "--epoch-steps", "1", "--threads", "1"]
MODEL_TITLES = ("Training step of lenet() and vgg()", "Layers of vgg()", "BatchNorm of vgg()",
                "Peak memory of a lenet() and vgg() training step", "One epoch",
                "Augmentation of a batch against a lenet() training step")


def test_models_print_every_table(capsys):
    bench.main(MODELS_TINY)
    out = capsys.readouterr().out
    assert all(title in out for title in MODEL_TITLES)
    assert "Training step, batch" not in out  # no ConvNet configuration asked for
    assert all(f"  {layer}  " in out for layer in ("conv1", "bn1", "relu1", "pool1", "conv6", "bn6", "fc1"))
    assert "extrapolated from 1 step" in out


def test_models_markdown(capsys):
    bench.main(MODELS_TINY + ["--models", "lenet", "--markdown"])
    out = capsys.readouterr().out
    assert "| model | dtype | ours | torch | ours/torch | target | status |" in out
    assert "Layers of vgg()" not in out and "BatchNorm of vgg()" not in out


def test_models_without_torch(monkeypatch, capsys):
    monkeypatch.setattr(bench, "torch", None)
    bench.main(MODELS_TINY)
    out = capsys.readouterr().out
    assert all(title in out for title in MODEL_TITLES)
    assert out.count("PyTorch comparison skipped: torch not installed") >= 4


def test_full_epoch_option(capsys):
    bench.main(MODELS_TINY + ["--models", "lenet", "--full-epoch", "--epoch-images", "10"])
    out = capsys.readouterr().out
    assert "full epoch of 10 images, 3 steps" in out


def test_no_models_asked_for(capsys):
    bench.main(TINY)
    out = capsys.readouterr().out
    assert all(title in out for title in TITLES) and not any(title in out for title in MODEL_TITLES)


@pytest.mark.parametrize("option", [["--models", "resnet"], ["--epoch-images", "0"], ["--epoch-steps", "-1"]])
def test_bad_options_are_refused(option, capsys):
    with pytest.raises(SystemExit) as exit_info:
        bench.main(MODELS_TINY + option)
    assert exit_info.value.code == 2 and option[0] in capsys.readouterr().err


@pytest.mark.parametrize("name", ["lenet", "vgg"])
def test_torch_sequential_is_equivalent(name, one_thread):
    pytest.importorskip("torch")
    bench_models.check_model_equivalence(name, batch=4)


@pytest.mark.parametrize("stack", [
    lambda: [layers.ConvolutionalLayer(3, 4, 3, 1, seed=1), layers.BatchNormalization(4, momentum=0.3),
             layers.ReLULayer(), layers.MaxPoolingLayer(2, 2), layers.ConvolutionalLayer(4, 6, 3, 0, stride=2, seed=2),
             layers.TanhLayer(), layers.AveragePoolingLayer(3, 2), layers.Flattener(),
             layers.BatchNormalization(54, eps=1e-3), layers.Dropout(0.0), layers.FullyConnectedLayer(54, 10, seed=3)],
    lambda: [layers.ConvolutionalLayer(3, 5, 5, 2, seed=1), layers.ReLULayer(), layers.GlobalAveragePooling(),
             layers.BatchNormalization(5), layers.FullyConnectedLayer(5, 10, seed=2)],
], ids=["flatten then batchnorm", "global average pooling"])
def test_torch_sequential_of_every_layer_type(stack, one_thread):
    pytest.importorskip("torch")
    bench_models.check_sequential_equivalence(Sequential(stack()), "mixed", batch=4)


def test_torch_sequential_refuses_an_unknown_layer():
    pytest.importorskip("torch")

    class Identity:
        def forward(self, X):
            return X

        def backward(self, d_out):
            return d_out

        def params(self):
            return {}
    with pytest.raises(TypeError, match="torch_sequential has no torch module for Identity"):
        bench_models.torch_sequential(Sequential([layers.ConvolutionalLayer(3, 2, 3), Identity(), layers.Flattener(),
                                           layers.FullyConnectedLayer(1800, 10)]))


def test_model_equivalence_check_sees_the_flatten_order(monkeypatch, one_thread):
    pytest.importorskip("torch")
    original = bench_models.torch_state

    def no_permutation(model, arrays, input_shape):  # fc rows left in our (h, w, c) order
        state = original(model, arrays, input_shape)
        fc = arrays.get("fc1_W")
        if fc is not None:
            state["fc1.weight"] = np.ascontiguousarray(fc.T)
        return state
    monkeypatch.setattr(bench_models, "torch_state", no_permutation)
    with pytest.raises(RuntimeError, match=r"the torch model of lenet is not ours: loss"):
        bench_models.check_model_equivalence("lenet", batch=4)


def test_model_equivalence_check_sees_the_running_statistics(monkeypatch, one_thread):
    torch = pytest.importorskip("torch")
    original = bench_models.torch_sequential

    def default_momentum(model):  # torch's BatchNorm2d default momentum where ours differs
        net = original(model)
        for module in net.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.momentum = 0.2
        return net
    monkeypatch.setattr(bench_models, "torch_sequential", default_momentum)
    with pytest.raises(RuntimeError, match=r"the torch model of vgg is not ours: bn1.running_mean"):
        bench_models.check_model_equivalence("vgg", batch=4)


def test_the_source_describes_targets_without_tracker_numbers():
    assert "issue" not in inspect.getsource(bench).lower() + inspect.getsource(bench_models).lower()


@pytest.mark.parametrize("steps, expected", [(None, [2] * 11 + [1]), (7, [2] * 7), (50, [2] * 11 + [1])])
def test_epoch_trains_each_side_on_every_batch_once(monkeypatch, steps, expected, one_thread):
    """23 images in batches of 2: 12 steps, the last of 1 image, in turns of EPOCH_TURN_STEPS; one warm-up step."""
    sizes = {"ours": [], "torch": []}

    def counted(side, make_step):
        def wrapped(model):
            step = make_step(model)

            def counting_step(X, y):
                sizes[side].append(len(y))
                return step(X, y)
            return counting_step
        return wrapped
    monkeypatch.setattr(bench, "momentum_step", counted("ours", bench.momentum_step))
    if bench.torch is not None:
        monkeypatch.setattr(bench, "torch_momentum_step", counted("torch", bench.torch_momentum_step))
    ours, theirs, timed, n_steps = bench.time_epoch("lenet", "float32", batch=2, images=23, steps=steps)
    assert (timed, n_steps) == (len(expected), 12)
    assert sizes["ours"] == [2, *expected]
    if bench.torch is not None:
        assert sizes["torch"] == [2, *expected] and theirs > 0
    assert ours > 0


def test_augmentation_is_timed_against_the_lenet_step(capsys):
    bench.main(MODELS_TINY + ["--models", "lenet", "--dtypes", "float32", "float64"])
    out = capsys.readouterr().out
    table = out[out.index("Augmentation of a batch against a lenet() training step"):]
    rows = [line.split() for line in table.splitlines()[4:6]]  # title, rule, headers, dashes
    assert [row[:2] for row in rows] == [["lenet()", "float32"], ["lenet()", "float64"]]
    for row in rows:
        augmentation, step, share = float(row[2]), float(row[3]), float(row[4].rstrip("%"))
        assert augmentation > 0 and step > 0
        # The share comes from the unrounded times: within what the times' rounding to 0.01 ms and its own to 1%
        # allow.
        low, high = 100 * (augmentation - 0.005) / (step + 0.005), 100 * (augmentation + 0.005) / (step - 0.005)
        assert low - 0.5 <= share <= high + 0.5
    assert "shift + rotation + colour jitter" in table


def test_no_augmentation_table_without_lenet(capsys):
    bench.main(MODELS_TINY + ["--models", "vgg"])
    assert "Augmentation of a batch" not in capsys.readouterr().out


def test_time_augmentation_keeps_the_dtype_and_leaves_the_global_rng(monkeypatch):
    seen = []
    monkeypatch.setattr(bench, "AUGMENTATION", lambda X, rng: seen.append(X.dtype) or X)
    state = np.random.get_state()[1].copy()
    augmentation, step = bench.time_augmentation("lenet", "float32", 4, repeats=2, warmup=1)
    assert augmentation > 0 and step > 0
    assert set(seen) == {np.dtype(np.float32)}
    assert (np.random.get_state()[1] == state).all()


def test_several_thread_counts_give_the_scaling_table(capsys, monkeypatch):
    """The table from made-up timings (2x faster at 2 threads for ours, 4x for torch): labels, ratios, speed-ups."""
    calls = []

    def fake_run(side, label, dtype, count, batch, repeats, warmup):
        calls.append((side, label, count))
        return {"seconds": (0.1 if side == "ours" else 0.2) / (2 if side == "ours" else 4) ** (count - 1),
                "peak_mb": 5.0 if side == "ours" else None}

    monkeypatch.setattr(bench.scaling, "_run_side", fake_run)
    # torch's side is made up too, so the table is the same with torch installed or not (make test has none).
    fake_torch = types.SimpleNamespace(__version__="(made up)", get_num_threads=lambda: 1)
    monkeypatch.setattr(bench, "torch", fake_torch)
    monkeypatch.setattr(bench, "check_equivalence", lambda *args, **kwargs: None)
    monkeypatch.setattr(bench, "check_model_equivalence", lambda *args, **kwargs: None)
    bench.main(["--quick", "--configs", "2x2", "--dtypes", "float32", "--models", "lenet", "--threads", "1", "2"])
    out = capsys.readouterr().out
    assert "Training step at 1, 2 threads, batch 64" in out
    assert calls[:4] == [("ours", "2x2", 1), ("torch", "2x2", 1), ("ours", "2x2", 2), ("torch", "2x2", 2)]
    assert len(calls) == 2 * 2 * 2 * bench.scaling.ROUNDS
    rows = [line.split() for line in out.splitlines() if line.startswith(("ConvNet(2, 2)", "lenet()"))]
    assert [row[-11:] for row in rows if row[0] == "lenet()"] == [
        ["1", "100.0", "ms", "200.0", "ms", "0.50x", "1.00x", "1.00x", "0%", "0%", "5.0"],
        ["2", "50.0", "ms", "50.0", "ms", "1.00x", "2.00x", "4.00x", "0%", "0%", "5.0"]]


def test_a_side_is_timed_in_a_process_of_its_own():
    result = bench.scaling._run_side("ours", "2x2", "float32", 1, batch=2, repeats=1, warmup=1)
    assert result["seconds"] > 0 and result["peak_mb"] > 0

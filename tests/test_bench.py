"""Smoke tests of bench.py on a tiny configuration: it runs and prints every table. No timing is asserted."""
import numpy as np
import pytest

import bench
from layers import ConvolutionalLayer

TINY = ["--quick", "--batch", "4", "--loop-batch", "2", "--configs", "2x2", "--dtypes", "float32"]
TITLES = ("Training step", "Layers", "per-pixel loop", "Peak memory", "Scaling", "Machine")


@pytest.fixture(autouse=True)
def no_settling(monkeypatch):
    monkeypatch.setattr(bench, "SETTLE_SECONDS", 0.0)


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


def test_threads_option(capsys):
    bench.main(TINY + ["--threads", "1"])
    assert "threads: limited to 1" in capsys.readouterr().out


@pytest.mark.parametrize("padding", [0, 1, 2])
@pytest.mark.parametrize("compute_input_grad", [True, False])
def test_loop_convolution_matches_the_layer(padding, compute_input_grad):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((2, 7, 6, 3))
    layer = ConvolutionalLayer(3, 4, 3, padding, seed=1, compute_input_grad=compute_input_grad)
    layer.B.value = rng.standard_normal(4)
    out = layer.forward(X)
    d_out = rng.standard_normal(out.shape)
    d_X = layer.backward(d_out)

    loop_d_X, loop_d_W, loop_d_B = bench.conv_backward_loop(d_out, X, layer.W.value, padding, compute_input_grad)
    np.testing.assert_allclose(bench.conv_forward_loop(X, layer.W.value, layer.B.value, padding), out, atol=1e-12)
    np.testing.assert_allclose(loop_d_W, layer.W.grad, atol=1e-12)
    np.testing.assert_allclose(loop_d_B, layer.B.grad, atol=1e-12)
    if compute_input_grad:
        np.testing.assert_allclose(loop_d_X, d_X, atol=1e-12)
    else:
        assert d_X is None and loop_d_X is None


def test_torch_model_is_equivalent():
    pytest.importorskip("torch")
    bench.check_equivalence((2, 3), batch=4)


def test_equivalence_check_fails_loudly(monkeypatch):
    torch = pytest.importorskip("torch")
    original = bench.torch_model

    def fc_rows_reversed(model):  # the layout mistake the check exists for
        net = original(model)
        with torch.no_grad():
            net.fc.weight.copy_(net.fc.weight.flip(1))
        return net
    monkeypatch.setattr(bench, "torch_model", fc_rows_reversed)
    with pytest.raises(RuntimeError, match=r"the torch model of \(2, 3\) is not ours: loss"):
        bench.check_equivalence((2, 3), batch=4)


def test_format_table_aligns_labels_left_and_numbers_right():
    table = bench.format_table(["name", "ms"], [["conv1", "1.25"], ["fc", "10.50"]], n_labels=1)
    assert table.splitlines() == ["name      ms", "-----  -----", "conv1   1.25", "fc     10.50"]


def test_help_speaks_to_the_user_not_to_the_tracker(capsys):
    with pytest.raises(SystemExit) as exit_info:
        bench.main(["--help"])
    out = capsys.readouterr().out
    assert exit_info.value.code == 0 and "PyTorch" in out
    assert "issue" not in out.lower() and "#" not in out

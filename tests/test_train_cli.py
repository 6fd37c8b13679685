"""train.py: preprocessing, train_model, the command line end to end on a tiny stand-in, and its bad arguments."""
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.io

import train
from checkpoint import load_model
from model import ConvNet
from optim import Adam, MomentumSGD, RMSProp, SGD
from standin import make_standin
from trainer import Dataset

ROOT = Path(__file__).resolve().parent.parent
TINY = ["--max-train", "200", "--val", "50", "--max-test", "50", "--epochs", "1", "--conv1", "2", "--conv2", "2",
        "--quiet"]
METRICS_KEYS = {"test_accuracy", "per_class_accuracy", "confusion_matrix", "best_val_accuracy", "best_epoch",
                "epochs_run", "interrupted", "run_seconds", "train_seconds", "data", "arguments", "versions"}


@pytest.fixture(scope="module")
def standin(tmp_path_factory):
    folder = tmp_path_factory.mktemp("standin")
    make_standin(folder, n_train=300, n_test=100, seed=0)
    return str(folder)


def run_main(argv, capsys):
    """main(argv) in-process: (exit code, stdout, stderr)."""
    try:
        code = train.main(argv)
    except SystemExit as exit_:
        code = exit_.code
    out, err = capsys.readouterr()
    return code, out, err


def tiny_dataset(n_train=24, n_val=8, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n_train + n_val, 16, 16, 3)).astype(np.float32)
    y = rng.integers(0, 10, n_train + n_val)
    return Dataset(X[:n_train], y[:n_train], X[n_train:], y[n_train:])


def test_prepare_scales_and_subtracts_the_training_mean(rng):
    train_X = rng.integers(0, 256, (5, 4, 4, 3)).astype(np.float64)
    test_X = rng.integers(0, 256, (2, 4, 4, 3)).astype(np.float64)
    originals = train_X.copy(), test_X.copy()
    new_train, new_test, mean = train.prepare_for_neural_network(train_X, test_X, dtype=np.float64)
    expected_mean = (train_X / 255).mean(axis=0)
    np.testing.assert_allclose(mean, expected_mean)
    np.testing.assert_allclose(new_train, train_X / 255 - expected_mean)
    np.testing.assert_allclose(new_test, test_X / 255 - expected_mean)
    np.testing.assert_array_equal(train_X, originals[0])
    np.testing.assert_array_equal(test_X, originals[1])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_prepare_returns_the_dtype_asked_for_uint8_input_too(rng, dtype):
    images = rng.integers(0, 256, (3, 4, 4, 3), dtype=np.uint8)
    *arrays, mean = train.prepare_for_neural_network(images, images[:1], dtype=dtype)
    assert [array.dtype for array in (*arrays, mean)] == [dtype] * 3
    assert mean.shape == (4, 4, 3)
    np.testing.assert_allclose(arrays[0].mean(axis=0), 0, atol=1e-6)


@pytest.mark.parametrize("args, error, match", [
    ((np.zeros((4, 4, 3)),), ValueError, "`train_X` must be 4-D"),
    ((np.zeros((2, 4, 4, 3)), np.zeros((2, 4, 5, 3))), ValueError, r"`others\[0\]` must hold images of the "),
    ((np.array([[[["a"]]]]),), TypeError, "pixel values 0..255"),
])
def test_prepare_refuses_bad_input(args, error, match):
    with pytest.raises(error, match=match):
        train.prepare_for_neural_network(*args)


@pytest.mark.parametrize("name, kind", [("sgd", SGD), ("momentum", MomentumSGD), ("nesterov", MomentumSGD),
                                        ("adam", Adam), ("rmsprop", RMSProp)])
def test_make_optimizer(name, kind):
    optimizer = train.make_optimizer(name, momentum=0.5)
    assert type(optimizer) is kind
    if kind is MomentumSGD:
        assert (optimizer.momentum, optimizer.nesterov) == (0.5, name == "nesterov")


def test_make_optimizer_refuses_an_unknown_name():
    with pytest.raises(ValueError, match="`optim` must be one of sgd, momentum"):
        train.make_optimizer("adagrad")


def test_train_model_is_reproducible_from_its_seed():
    runs = [train.train_model(tiny_dataset(), conv1=2, conv2=2, epochs=2, batch_size=8, seed=3) for _ in range(2)]
    (model_a, trainer_a), (model_b, trainer_b) = runs
    assert isinstance(model_a, ConvNet) and len(trainer_a.history) == 2
    assert model_a.config()["dtype"] == "float32" and model_a.input_shape == (16, 16, 3)
    for name, param in model_a.params().items():
        np.testing.assert_array_equal(param.value, model_b.params()[name].value)
    assert [record["loss"] for record in trainer_a.history] == [record["loss"] for record in trainer_b.history]


def test_cli_end_to_end_writes_every_file(standin, tmp_path, capsys):
    out = tmp_path / "run"
    code, stdout, stderr = run_main(["--data", standin, "--out", str(out), *TINY], capsys)
    assert code == 0, stderr
    assert sorted(os.listdir(out)) == sorted(train.OUTPUT_FILES)
    assert all((out / name).stat().st_size > 0 for name in train.OUTPUT_FILES)
    assert "stand-in" in stdout and "NOT SVHN results" in stdout
    assert "test accuracy" in stdout and str(out) in stdout.splitlines()[-1]

    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics) == METRICS_KEYS
    assert metrics["data"] == {"folder": standin, "standin": True, "n_train": 150, "n_val": 50, "n_test": 50}
    assert metrics["epochs_run"] == metrics["best_epoch"] == 1 and metrics["interrupted"] is False
    counts = np.array(metrics["confusion_matrix"])
    assert counts.shape == (10, 10) and counts.sum() == 50
    assert metrics["test_accuracy"] == pytest.approx(np.trace(counts) / 50)
    assert set(metrics["per_class_accuracy"]) == {str(k) for k in range(10)}
    assert metrics["arguments"]["conv1"] == 2 and metrics["arguments"]["optim"] == train.OPTIMIZER
    assert set(metrics["versions"]) == {"python", "numpy", "scipy", "matplotlib"}
    assert metrics["run_seconds"] >= metrics["train_seconds"] > 0

    history = (out / "history.csv").read_text().splitlines()
    assert history[0] == "epoch,loss,train_acc,val_acc,lr,seconds" and len(history) == 2
    assert load_model(out / "model.npz").config()["conv1_channels"] == 2
    assert (out / "learning_curves.png").read_bytes().startswith(b"\x89PNG")


def test_cli_records_the_standin_after_the_warning_was_spent(standin, tmp_path, capsys):
    # load_svhn warns once per process and file; metrics.json must say "stand-in" every time.
    for name in ("first", "second"):
        code, _, stderr = run_main(["--data", standin, "--out", str(tmp_path / name), *TINY], capsys)
        assert code == 0, stderr
        assert json.loads((tmp_path / name / "metrics.json").read_text())["data"]["standin"] is True


def test_is_standin_is_false_for_files_without_the_marker(tmp_path):
    for name in ("train_32x32.mat", "test_32x32.mat"):
        scipy.io.savemat(tmp_path / name, {"X": np.zeros((32, 32, 3, 2), np.uint8), "y": np.ones((2, 1))})
    assert train._is_standin(tmp_path) is False


@pytest.mark.parametrize("argv, match", [
    (["--epochs", "-1"], "argument --epochs: must be a positive integer, got '-1'"),
    (["--epochs", "two"], "argument --epochs: must be a positive integer"),
    (["--max-train", "0"], "argument --max-train: must be a positive integer"),
    (["--batch-size", "1.5"], "argument --batch-size: must be a positive integer"),
    (["--lr", "0"], "argument --lr: must be a finite number > 0"),
    (["--lr", "nan"], "argument --lr: must be a finite number > 0"),
    (["--lr-decay", "1.5"], r"argument --lr-decay: must be a number in \(0, 1\]"),
    (["--momentum", "1"], r"argument --momentum: must be a number in \[0, 1\)"),
    (["--seed", "-3"], "argument --seed: must be a non-negative integer"),
    (["--optim", "adagrad"], "argument --optim: invalid choice: 'adagrad'"),
    (["--dtype", "float16"], "argument --dtype: invalid choice"),
    (["--colour"], "unrecognized arguments: --colour"),
    (["--val", "200", "--max-train", "200"], "--val must be smaller than --max-train"),
    (["--max-train", "1000", "--val", "10"], "`max_train` must be at most the number of images"),
    (["--data", "no/such/folder"], "SVHN file not found: no/such/folder/train_32x32.mat"),
])
def test_cli_bad_arguments_exit_2_with_one_line(standin, tmp_path, capsys, argv, match):
    argv = ["--data", standin, "--out", str(tmp_path / "run"), "--quiet", *argv]
    code, stdout, stderr = run_main(argv, capsys)
    assert code == 2
    assert stderr.startswith("train.py: error: ") and stderr.endswith("(see --help)\n")
    assert stderr.count("\n") == 1 and "Traceback" not in stderr
    assert re.search(match, stderr), stderr
    assert not (tmp_path / "run").exists()


def test_cli_refuses_an_out_that_is_a_file(standin, tmp_path, capsys):
    (tmp_path / "taken").write_text("")
    code, _, stderr = run_main(["--data", standin, "--out", str(tmp_path / "taken"), *TINY], capsys)
    assert code == 2 and "--out" in stderr and "is a file" in stderr and stderr.count("\n") == 1


def test_cli_diverging_training_exits_1_with_one_line(standin, tmp_path, capsys):
    code, _, stderr = run_main(["--data", standin, "--out", str(tmp_path / "run"), *TINY, "--optim", "sgd",
                                "--lr", "1e30"], capsys)
    assert code == 1
    assert stderr.startswith("train.py: training diverged: Training diverged at epoch 1")
    assert stderr.count("\n") == 1  # no overflow warnings before it


def test_cli_interrupted_in_the_first_epoch_exits_1(standin, tmp_path, capsys, monkeypatch):
    def interrupt(self, X, y):
        raise KeyboardInterrupt

    monkeypatch.setattr(ConvNet, "compute_loss_and_gradients", interrupt)
    code, _, stderr = run_main(["--data", standin, "--out", str(tmp_path / "run"), *TINY], capsys)
    assert code == 1 and "interrupted before the first epoch ended" in stderr


def test_sizes_accept_all():
    assert train._count("all") is None and train._count("12") == 12


def test_cli_help_shows_the_defaults(capsys):
    code, stdout, _ = run_main(["--help"], capsys)
    assert code == 0
    for text in ("--max-train", "(default: 10000)", f"(default: {train.EPOCHS})", "sgd,momentum,nesterov,adam"):
        assert text in stdout


def test_cli_as_a_subprocess_missing_data_exits_2_without_traceback(tmp_path):
    result = subprocess.run([sys.executable, str(ROOT / "train.py"), "--data", str(tmp_path / "nothing"),
                             "--out", str(tmp_path / "run")], capture_output=True, text=True, cwd=tmp_path,
                            timeout=60)
    assert result.returncode == 2
    assert result.stderr.startswith("train.py: error: SVHN file not found")
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert result.stdout == ""

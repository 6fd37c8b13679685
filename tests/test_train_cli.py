"""train.py: preprocessing, train_model, the command line end to end on a tiny stand-in, and its bad arguments."""
import csv
import json
import os
import re
import shutil
import signal
import subprocess
import sys
from functools import partial
from pathlib import Path

import numpy as np
import pytest
import scipy.io
from helpers import raw_test_images, run_cli, tiny_dataset

import train
from checkpoint import load_classifier, load_model
from dataset import load_svhn
from metrics import confusion_counts, multiclass_accuracy
from model import ConvNet
from optim import SGD, Adam, MomentumSGD, RMSProp

ROOT = Path(__file__).resolve().parent.parent
TINY = ["--max-train", "200", "--val", "50", "--max-test", "50", "--epochs", "1", "--conv1", "2", "--conv2", "2",
        "--quiet"]
METRICS_KEYS = {"test_accuracy", "per_class_accuracy", "confusion_matrix", "confusion_matrix_rows",
                "confusion_matrix_columns", "best_val_accuracy", "best_epoch", "epochs_run", "interrupted",
                "run_seconds", "train_seconds", "data", "model", "arguments", "versions"}
# A run strong enough to predict more than one class: preprocessing mistakes change its predictions.
TRAINED = ["--max-train", "300", "--val", "50", "--max-test", "100", "--epochs", "2", "--conv1", "4", "--conv2", "8",
           "--lr", "0.01", "--quiet"]
run_main = partial(run_cli, train.main)  # run_main(argv, capsys) -> (exit code, stdout, stderr)


@pytest.fixture(scope="module")
def finished_run(standin, tmp_path_factory):
    """The folder of a completed train.py run with TRAINED settings (read only: copy it to change it)."""
    out = tmp_path_factory.mktemp("finished") / "run"
    assert train.main(["--data", standin, "--out", str(out), *TRAINED]) == 0
    return out


def snapshot(folder):
    """{file name: bytes} of every file in `folder`."""
    return {name: (Path(folder) / name).read_bytes() for name in sorted(os.listdir(folder))}


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
    runs = [train.train_model(tiny_dataset(24, 8), conv1=2, conv2=2, epochs=2, batch_size=8, seed=3) for _ in range(2)]
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
    assert (metrics["confusion_matrix_rows"], metrics["confusion_matrix_columns"]) == ("true label", "predicted label")
    np.testing.assert_array_equal(counts.sum(axis=1), np.bincount(raw_test_images(standin, 50)[1], minlength=10))
    assert metrics["test_accuracy"] == pytest.approx(np.trace(counts) / 50)
    assert set(metrics["per_class_accuracy"]) == {str(k) for k in range(10)}
    assert metrics["arguments"]["conv1"] == 2 and metrics["arguments"]["optim"] == train.OPTIMIZER
    assert metrics["model"] == {"arch": "convnet", "conv1": 2, "conv2": 2, "class": "ConvNet",
                                "input_shape": [32, 32, 3], "n_classes": 10, "dtype": "float32", "resumed_from": None}
    assert set(metrics["versions"]) == {"python", "numpy", "scipy", "matplotlib"}
    assert metrics["run_seconds"] >= metrics["train_seconds"] > 0

    history = (out / "history.csv").read_text().splitlines()
    assert history[0] == "epoch,loss,train_acc,val_acc,lr,seconds" and len(history) == 2
    assert load_model(out / "model.npz").config()["conv1_channels"] == 2
    assert (out / "learning_curves.png").read_bytes().startswith(b"\x89PNG")
    assert os.listdir(tmp_path) == ["run"]  # no temporary folder left beside it


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
    (["--max-train", "1000", "--val", "10"], "--max-train 1000 is more than the 300 images in"),
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


def test_cli_refuses_an_out_inside_a_file(standin, tmp_path, capsys):
    (tmp_path / "taken").write_text("")
    out = tmp_path / "taken" / "runs" / "first"
    code, _, stderr = run_main(["--data", standin, "--out", str(out), *TINY], capsys)
    assert code == 2
    assert stderr == (f"train.py: error: --out {out} cannot be created: {tmp_path / 'taken'} is not a folder "
                      f"(see --help)\n")


@pytest.mark.parametrize("lr, said_lr, reason", [
    ("1e30", r"1e\+30", r"[^\n]+"),  # any reason: overflow or a non-finite loss
    ("1e3", "1000", r"the loss \S+ is above 1000 times the reference loss \S+ \(the larger of the first batch's loss "
                    r"and 1\)"),  # an exploding but finite loss, said without the trainer's keyword
])
def test_cli_diverging_training_exits_1_with_command_line_advice(standin, tmp_path, capsys, lr, said_lr, reason):
    out = tmp_path / "run"
    code, _, stderr = run_main(["--data", standin, "--out", str(out), *TINY, "--optim", "sgd", "--lr", lr], capsys)
    assert code == 1
    assert re.fullmatch(rf"train\.py: training diverged at epoch 1, batch \d+: {reason}; nothing was written to "
                        rf"{re.escape(str(out))}\. Rerun with a smaller --lr \(this run used --lr {said_lr}\)\.\n",
                        stderr), stderr
    assert "trainer." not in stderr and "fit()" not in stderr and "divergence_threshold" not in stderr
    assert os.listdir(tmp_path) == []


def interrupt_at_step(monkeypatch, step):
    """Make the `step`-th training step (counted from 1) raise KeyboardInterrupt, as Ctrl-C there would."""
    fail_at_step(monkeypatch, step, KeyboardInterrupt)


def fail_at_step(monkeypatch, step, failure):
    """Make the `step`-th training step (counted from 1) raise `failure`, an exception, or return it as the loss."""
    train_step, calls = ConvNet.compute_loss_and_gradients, []

    def failing_step(self, X, y):
        calls.append(1)
        if len(calls) != step:
            return train_step(self, X, y)
        if isinstance(failure, float):
            return failure
        raise failure

    monkeypatch.setattr(ConvNet, "compute_loss_and_gradients", failing_step)


def test_cli_interrupted_in_the_first_epoch_exits_130_and_leaves_nothing(standin, tmp_path, capsys, monkeypatch):
    interrupt_at_step(monkeypatch, 2)
    out = tmp_path / "runs" / "first"
    code, _, stderr = run_main(["--data", standin, "--out", str(out), *TINY], capsys)
    assert code == 130
    assert stderr == f"train.py: interrupted before the first epoch ended; nothing was written to {out}\n"
    assert os.listdir(tmp_path) == []  # neither --out, its temporary folder, nor the runs/ folder made for them


@pytest.mark.parametrize("where", ["train.load_svhn", "train.plots.learning_curves"])
def test_cli_interrupted_outside_training_exits_130_and_leaves_nothing(standin, tmp_path, capsys, monkeypatch,
                                                                       where):
    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(where, interrupt)
    out = tmp_path / "run"
    code, _, stderr = run_main(["--data", standin, "--out", str(out), *TINY], capsys)
    assert code == 130
    stage = "before the first epoch ended" if "load" in where else "while writing the results"
    assert stderr == f"train.py: interrupted {stage}; nothing was written to {out}\n"
    assert os.listdir(tmp_path) == []


def test_cli_interrupted_after_an_epoch_saves_everything_and_exits_130(standin, tmp_path, capsys, monkeypatch):
    interrupt_at_step(monkeypatch, 4)  # TINY: 3 steps per epoch, so the first step of epoch 2
    out = tmp_path / "run"
    code, stdout, stderr = run_main(["--data", standin, "--out", str(out), *TINY, "--epochs", "3"], capsys)
    assert code == 130
    assert sorted(os.listdir(out)) == sorted(train.OUTPUT_FILES)
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["interrupted"] is True and metrics["epochs_run"] == 1
    assert f"files in {out}:" in stdout
    assert stderr.splitlines()[-1] == (f"train.py: interrupted after epoch 1 of 3; the files in {out} hold the "
                                       f"model of epoch 1, the best of those")


def test_sizes_accept_all():
    assert train._count("all") is None and train._count("12") == 12


def test_cli_help_shows_the_defaults(capsys):
    code, stdout, _ = run_main(["--help"], capsys)
    assert code == 0
    for text in ("--max-train", "(default: all on real SVHN, 10000 on the stand-in)", f"(default: {train.EPOCHS})",
                 "sgd,momentum,nesterov,adam,adamw,rmsprop", "the training state that --resume continues from",
                 "(default: 0, 0.01 with --optim adamw)", "vgg: channels of each block"):
        assert text in " ".join(stdout.split())


def test_cli_as_a_subprocess_missing_data_exits_2_without_traceback(tmp_path):
    result = subprocess.run([sys.executable, str(ROOT / "train.py"), "--data", str(tmp_path / "nothing"),
                             "--out", str(tmp_path / "run")], capture_output=True, text=True, cwd=tmp_path,
                            timeout=60)
    assert result.returncode == 2
    assert result.stderr.startswith("train.py: error: SVHN file not found")
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert result.stdout == ""


def test_cli_log_in_a_file_has_plain_lines_without_progress_bars(standin, tmp_path):
    log = tmp_path / "log.txt"
    with open(log, "w") as file:
        result = subprocess.run([sys.executable, str(ROOT / "train.py"), "--data", standin, "--out",
                                 str(tmp_path / "run"), *TINY[:-1], "--epochs", "2"], cwd=tmp_path, stdout=file,
                                stderr=subprocess.STDOUT, timeout=120)
    text = log.read_text()
    assert result.returncode == 0, text
    assert "\r" not in text and "batch" not in text
    for epoch in (1, 2):
        assert len(re.findall(rf"^Epoch {epoch}/2: loss ", text, flags=re.MULTILINE)) == 1, text


# --out: never mix two runs, never replace one without --overwrite, never leave half a run.

def test_cli_refuses_an_out_holding_a_previous_run(standin, finished_run, tmp_path, capsys):
    out = tmp_path / "run"
    shutil.copytree(finished_run, out)
    before = snapshot(out)
    code, _, stderr = run_main(["--data", standin, "--out", str(out), *TINY], capsys)
    assert code == 2
    assert stderr == (f"train.py: error: --out {out} is not empty (confusion_matrix.png, filters.png, history.csv "
                      f"and 5 more): give a new folder, or add --overwrite to replace it at the end of this run "
                      f"(see --help)\n")
    assert snapshot(out) == before and os.listdir(tmp_path) == ["run"]


def test_cli_writes_into_an_empty_existing_out(standin, tmp_path, capsys):
    (tmp_path / "run").mkdir()
    code, _, stderr = run_main(["--data", standin, "--out", str(tmp_path / "run"), *TINY], capsys)
    assert code == 0, stderr
    assert sorted(os.listdir(tmp_path / "run")) == sorted(train.OUTPUT_FILES)


def spy_on_training(monkeypatch, after_training):
    """Run `after_training(checkpoint_path)` when train.main's training ends, before it writes its results."""
    real = train.train_model

    def train_model(dataset, **kwargs):
        result = real(dataset, **kwargs)
        after_training(kwargs["checkpoint_path"])
        return result

    monkeypatch.setattr(train, "train_model", train_model)


def test_cli_writes_into_a_hidden_folder_beside_out_until_the_end(standin, tmp_path, capsys, monkeypatch):
    out, seen = tmp_path / "run", {}

    def look(checkpoint_path):
        seen["folder"] = Path(checkpoint_path).parent
        seen["files"] = sorted(os.listdir(seen["folder"]))
        seen["out exists"] = out.exists()

    spy_on_training(monkeypatch, look)
    code, stdout, stderr = run_main(["--data", standin, "--out", str(out), *TINY], capsys)
    assert code == 0, stderr
    assert seen["folder"].parent == tmp_path and seen["folder"].name.startswith(".run.")
    assert seen["files"] == ["model.best.npz", "model.npz"] and seen["out exists"] is False
    assert os.listdir(tmp_path) == ["run"]
    umask = os.umask(0)
    os.umask(umask)
    assert out.stat().st_mode & 0o777 == 0o777 & ~umask  # a usual folder, not mkdtemp's 0700


def test_cli_overwrite_replaces_the_previous_run_only_at_the_end(standin, finished_run, tmp_path, capsys,
                                                                 monkeypatch):
    out = tmp_path / "run"
    shutil.copytree(finished_run, out)
    before, during = snapshot(out), {}
    spy_on_training(monkeypatch, lambda _: during.update(snapshot(out)))
    code, _, stderr = run_main(["--data", standin, "--out", str(out), *TINY, "--conv1", "3", "--overwrite"], capsys)
    assert code == 0, stderr
    assert during == before
    assert json.loads((out / "metrics.json").read_text())["arguments"]["conv1"] == 3
    assert load_model(out / "model.best.npz").config()["conv1_channels"] == 3
    assert sorted(os.listdir(out)) == sorted(train.OUTPUT_FILES) and os.listdir(tmp_path) == ["run"]


def test_cli_overwrite_refuses_a_folder_that_is_not_a_run(standin, finished_run, tmp_path, capsys):
    out = tmp_path / "run"
    shutil.copytree(finished_run, out)
    (out / "notes.txt").write_text("mine")
    before = snapshot(out)
    code, _, stderr = run_main(["--data", standin, "--out", str(out), *TINY, "--overwrite"], capsys)
    assert code == 2
    assert stderr == (f"train.py: error: --out {out} holds files train.py does not write (notes.txt): --overwrite "
                      f"replaces only the folder of an earlier run; move them away or give another --out "
                      f"(see --help)\n")
    assert snapshot(out) == before


@pytest.mark.parametrize("failure", ["diverged", "interrupted"])
def test_cli_overwrite_keeps_the_previous_run_when_the_new_one_fails(standin, finished_run, tmp_path, capsys,
                                                                     monkeypatch, failure):
    out = tmp_path / "run"
    shutil.copytree(finished_run, out)
    before = snapshot(out)
    argv = ["--data", standin, "--out", str(out), *TINY, "--overwrite"]
    if failure == "diverged":
        argv += ["--optim", "sgd", "--lr", "1e30"]
    else:
        interrupt_at_step(monkeypatch, 1)
    code, _, stderr = run_main(argv, capsys)
    assert code == (1 if failure == "diverged" else 130)
    assert f"nothing was written to {out}" in stderr
    assert snapshot(out) == before and os.listdir(tmp_path) == ["run"]


@pytest.mark.parametrize("failure", [float("nan"), RuntimeError("a bug")], ids=["diverged", "error"])
def test_cli_overwrite_keeps_the_previous_run_when_the_new_one_fails_after_an_epoch(standin, finished_run, tmp_path,
                                                                                    capsys, monkeypatch, failure):
    out = tmp_path / "run"
    shutil.copytree(finished_run, out)
    before = snapshot(out)
    fail_at_step(monkeypatch, 4, failure)  # TINY: 3 steps per epoch, so epoch 1 has saved its checkpoints
    argv = ["--data", standin, "--out", str(out), *TINY, "--epochs", "3", "--overwrite"]
    if isinstance(failure, float):
        code, _, stderr = run_main(argv, capsys)
        assert code == 1 and "training diverged at epoch 2, batch 1: " in stderr
    else:
        with pytest.raises(RuntimeError, match="a bug"):
            train.main(argv)
    assert snapshot(out) == before and os.listdir(tmp_path) == ["run"]


@pytest.mark.parametrize("earlier", ["finished", "interrupted"])
def test_cli_overwrite_interrupted_keeps_the_earlier_run_and_saves_this_one_beside_it(standin, finished_run,
                                                                                      tmp_path, capsys, monkeypatch,
                                                                                      earlier):
    out = tmp_path / "run"
    if earlier == "finished":
        shutil.copytree(finished_run, out)
    else:
        interrupt_at_step(monkeypatch, 4)
        assert run_main(["--data", standin, "--out", str(out), *TINY, "--epochs", "3"], capsys)[0] == 130
        monkeypatch.undo()
    before = snapshot(out)
    interrupt_at_step(monkeypatch, 4)
    code, stdout, stderr = run_main(["--data", standin, "--out", str(out), *TINY, "--epochs", "3", "--conv1", "3",
                                     "--overwrite"], capsys)
    assert code == 130
    assert snapshot(out) == before
    assert stderr == (f"train.py: interrupted after epoch 1 of 3; {out} keeps the run it holds (--overwrite replaces "
                      f"it only with a run that finished), and the files in {out}-2 hold this run's model of epoch "
                      f"1, the best of those\n")
    assert f"files in {out}-2:" in stdout.splitlines()[-1]
    assert sorted(os.listdir(tmp_path)) == ["run", "run-2"]
    metrics = json.loads((tmp_path / "run-2" / "metrics.json").read_text())
    assert (metrics["interrupted"], metrics["epochs_run"], metrics["arguments"]["conv1"]) == (True, 1, 3)
    assert_one_complete_run(tmp_path / "run-2", standin)


def test_cli_overwrite_interrupted_into_an_empty_out_saves_there(standin, tmp_path, capsys, monkeypatch):
    out = tmp_path / "run"
    out.mkdir()
    interrupt_at_step(monkeypatch, 4)
    code, _, stderr = run_main(["--data", standin, "--out", str(out), *TINY, "--epochs", "3", "--overwrite"], capsys)
    assert code == 130
    assert stderr == (f"train.py: interrupted after epoch 1 of 3; the files in {out} hold the model of epoch 1, the "
                      f"best of those\n")
    assert os.listdir(tmp_path) == ["run"] and sorted(os.listdir(out)) == sorted(train.OUTPUT_FILES)


def test_cli_out_filled_by_another_run_meanwhile_goes_to_a_sibling(standin, tmp_path, capsys, monkeypatch):
    out = tmp_path / "run"

    def other_run_finishes_first(_):
        out.mkdir()
        (out / "metrics.json").write_text("{}")

    spy_on_training(monkeypatch, other_run_finishes_first)
    code, stdout, stderr = run_main(["--data", standin, "--out", str(out), *TINY], capsys)
    assert code == 0, stderr
    assert snapshot(out) == {"metrics.json": b"{}"}
    assert sorted(os.listdir(tmp_path / "run-2")) == sorted(train.OUTPUT_FILES)
    assert stderr == (f"train.py: note: {out} was filled by another run while this one trained; this run's files "
                      f"are in {out}-2 instead\n")
    assert f"files in {out}-2:" in stdout.splitlines()[-1]
    assert sorted(os.listdir(tmp_path)) == ["run", "run-2"]


def assert_one_complete_run(folder, standin):
    """Every file of `folder` comes from the same run: same architecture, same history, same predictions."""
    assert sorted(os.listdir(folder)) == sorted(train.OUTPUT_FILES)
    metrics = json.loads((folder / "metrics.json").read_text())
    conv1 = metrics["arguments"]["conv1"]
    for name in ("model.npz", "model.best.npz"):
        assert load_model(folder / name).config()["conv1_channels"] == conv1
    with open(folder / "history.csv", newline="") as file:
        assert float(list(csv.DictReader(file))[-1]["val_acc"]) == metrics["best_val_accuracy"]
    test_X, test_y = raw_test_images(standin, metrics["data"]["n_test"])
    predictions = load_classifier(folder / "model.npz").predict(test_X)
    np.testing.assert_array_equal(confusion_counts(test_y, predictions), metrics["confusion_matrix"])
    return conv1


def test_two_concurrent_runs_into_one_out_never_mix(standin, tmp_path):
    out = tmp_path / "run"
    processes = [subprocess.Popen([sys.executable, str(ROOT / "train.py"), "--data", standin, "--out", str(out),
                                   *TINY, "--conv1", str(conv1)], cwd=tmp_path, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True) for conv1 in (3, 4)]
    results = [(process.communicate(timeout=180), process.returncode) for process in processes]
    codes = sorted(code for _, code in results)
    errors = "".join(stderr for (_, stderr), _ in results)
    folders = sorted(os.listdir(tmp_path))
    if codes == [0, 0]:  # both trained at once: the one that finished second went to a sibling
        assert folders == ["run", "run-2"]
        assert errors == (f"train.py: note: {out} was filled by another run while this one trained; this run's "
                          f"files are in {out}-2 instead\n")
        assert {assert_one_complete_run(tmp_path / name, standin) for name in folders} == {3, 4}
    else:  # one had finished before the other started
        assert codes == [0, 2] and folders == ["run"] and f"--out {out} is not empty" in errors
        assert_one_complete_run(out, standin)


INTERRUPTIBLE = """
import sys, time
from model import ConvNet

train_step, calls = ConvNet.compute_loss_and_gradients, []

def wait_for_sigint_at_one_step(self, X, y):
    calls.append(1)
    if len(calls) == int(sys.argv[1]):
        print("waiting for SIGINT", flush=True)
        time.sleep(120)
    return train_step(self, X, y)

ConvNet.compute_loss_and_gradients = wait_for_sigint_at_one_step
import train
sys.exit(train.main(sys.argv[2:]))
"""


def run_until_sigint(step, argv, cwd):
    """Run train.py in a subprocess, send SIGINT during training step `step`; return (code, stdout, stderr)."""
    process = subprocess.Popen([sys.executable, "-c", INTERRUPTIBLE, str(step), *argv], cwd=cwd, text=True,
                               env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE)
    lines = []
    while not lines or lines[-1] != "waiting for SIGINT\n":
        lines.append(process.stdout.readline())
        assert lines[-1], f"train.py ended before step {step}: {process.communicate()}"
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=120)
    return process.returncode, "".join(lines) + stdout, stderr


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to a subprocess is POSIX")
def test_sigint_after_an_epoch_saves_the_run_and_exits_130(standin, tmp_path):
    out = tmp_path / "run"
    code, stdout, stderr = run_until_sigint(4, ["--data", standin, "--out", str(out), *TINY, "--epochs", "3"],
                                            tmp_path)
    assert code == 130, stderr
    assert stderr.splitlines()[-1] == (f"train.py: interrupted after epoch 1 of 3; the files in {out} hold the "
                                       f"model of epoch 1, the best of those")
    assert "Traceback" not in stderr
    assert_one_complete_run(out, standin)
    assert json.loads((out / "metrics.json").read_text())["interrupted"] is True
    assert os.listdir(tmp_path) == ["run"]


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to a subprocess is POSIX")
def test_sigint_in_the_first_epoch_leaves_no_folder(standin, tmp_path):
    out = tmp_path / "runs" / "first"
    code, _, stderr = run_until_sigint(2, ["--data", standin, "--out", str(out), *TINY], tmp_path)
    assert code == 130, stderr
    assert stderr.splitlines()[-1] == (f"train.py: interrupted before the first epoch ended; nothing was written "
                                       f"to {out}")
    assert "Traceback" not in stderr
    assert os.listdir(tmp_path) == []


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to a subprocess is POSIX")
def test_sigint_during_overwrite_keeps_the_earlier_run(standin, finished_run, tmp_path):
    out = tmp_path / "run"
    shutil.copytree(finished_run, out)
    before = snapshot(out)
    code, _, stderr = run_until_sigint(4, ["--data", standin, "--out", str(out), *TINY, "--epochs", "3",
                                           "--overwrite"], tmp_path)
    assert code == 130, stderr
    assert snapshot(out) == before
    assert f"{out} keeps the run it holds" in stderr and f"the files in {out}-2 hold" in stderr
    assert_one_complete_run(tmp_path / "run-2", standin)
    assert sorted(os.listdir(tmp_path)) == ["run", "run-2"]


# What train.py saves is enough to predict on raw images.

def test_cli_model_predicts_raw_images_exactly_as_reported(standin, finished_run):
    metrics = json.loads((finished_run / "metrics.json").read_text())
    test_X, test_y = raw_test_images(standin, 100)
    classifier = load_classifier(finished_run / "model.npz")
    predictions = classifier.predict(test_X)
    assert multiclass_accuracy(predictions, test_y) == metrics["test_accuracy"]
    np.testing.assert_array_equal(confusion_counts(test_y, predictions), metrics["confusion_matrix"])
    np.testing.assert_array_equal(classifier.predict(test_X.astype(np.uint8)), predictions)
    np.testing.assert_array_equal(load_classifier(finished_run / "model.best.npz").predict(test_X), predictions)
    assert classifier.preprocessing["scale"] == 1 / 255 and classifier.preprocessing["mean_image"].shape == (32, 32, 3)
    # The saved mean matters: without it the same model predicts otherwise.
    assert np.any(classifier.model.predict(test_X / 255) != predictions)


# Command-line wording for errors raised by the library.

@pytest.mark.parametrize("argv, message", [
    (["--max-train", "1000", "--val", "10"], "--max-train 1000 is more than the 300 images in {data}/train_32x32.mat: "
                                             "give at most 300, or --max-train all"),
    (["--max-train", "200", "--val", "50", "--max-test", "500"],
     "--max-test 500 is more than the 100 images in {data}/test_32x32.mat: give at most 100, or --max-test all"),
    (["--max-train", "all", "--val", "300", "--max-test", "50"],
     "--val must be smaller than the 300 images in {data}/train_32x32.mat so that images are left for training, "
     "got --val 300 and --max-train all"),
])
def test_cli_errors_speak_of_flags_not_of_python(standin, tmp_path, capsys, argv, message):
    code, _, stderr = run_main(["--data", standin, "--out", str(tmp_path / "run"), "--quiet", *argv], capsys)
    assert code == 2
    assert stderr == f"train.py: error: {message.format(data=standin)} (see --help)\n"
    assert "None" not in stderr and "`" not in stderr
    assert os.listdir(tmp_path) == []


def test_cli_data_that_is_a_file(standin, tmp_path, capsys):
    (tmp_path / "data").write_text("")
    code, _, stderr = run_main(["--data", str(tmp_path / "data"), "--out", str(tmp_path / "run")], capsys)
    assert code == 2 and stderr.count("\n") == 1 and "`" not in stderr and "Traceback" not in stderr


@pytest.mark.parametrize("which, index", [("training", 0), ("test", 2)])
def test_cli_refuses_non_finite_images_in_one_line(standin, tmp_path, capsys, monkeypatch, which, index):
    def load_with_nan(folder, max_train, max_test, seed=42):
        arrays = list(load_svhn(folder, max_train, max_test, seed))
        arrays[index][:, 0, 0, :2] = [np.nan, np.inf]  # in every image, so in the training part of the split
        return tuple(arrays)

    monkeypatch.setattr(train, "load_svhn", load_with_nan)
    code, _, stderr = run_main(["--data", standin, "--out", str(tmp_path / "run"), *TINY], capsys)
    assert code == 2
    n = 150 if which == "training" else 50
    assert stderr == (f"train.py: error: the {which} images read from --data {standin} hold {2 * n} NaN or "
                      f"infinite values out of {n * 32 * 32 * 3}: re-create or re-download the data files "
                      f"(see --help)\n")
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_prepare_refuses_non_finite_pixels(dtype):
    images = np.zeros((2, 4, 4, 3), dtype=dtype)
    images[1, 2, 3, 0] = np.nan
    with pytest.raises(ValueError, match=r"`others\[0\]` must hold finite values only, got 1 NaN or infinite value "
                                         r"out of 96"):
        train.prepare_for_neural_network(np.zeros((2, 4, 4, 3)), images)


# --out and --augment: no silent surprises.

@pytest.mark.parametrize("out", ["", "   "])
def test_cli_refuses_an_empty_out(standin, tmp_path, capsys, monkeypatch, out):
    monkeypatch.chdir(tmp_path)  # an empty --out used to mean the current folder
    code, stdout, stderr = run_main(["--data", standin, "--out", out, *TINY], capsys)
    assert code == 2
    # OneLineParser folds runs of spaces into one
    assert stderr == (f"train.py: error: argument --out: must be a folder path, not empty, got {out[:1]!r} "
                      f"(see --help)\n")
    assert stdout == "" and os.listdir(tmp_path) == []


def test_cli_bare_augment_means_the_default_set(standin, tmp_path, capsys):
    out = tmp_path / "run"
    code, _, stderr = run_main(["--data", standin, "--out", str(out), *TINY, "--augment"], capsys)
    assert code == 0, stderr
    assert json.loads((out / "metrics.json").read_text())["arguments"]["augment"] == "default"
    assert train._parser().parse_args(["--augment"]).augment == train._parser().parse_args(
        ["--augment", "default"]).augment


FLIP_WARNING = ("train.py: warning: --augment {spec} flips the images, which is wrong for digits: a mirrored 2, 3, 4, "
                "5 or 7 is not a digit, and both flips together turn a 6 into a 9 (see augment.py); training goes on\n")


@pytest.mark.parametrize("spec, warns", [("hflip,vflip", True), ("shift:1,hflip", True), ("vflip:0", False)])
def test_cli_warns_about_flips_in_one_line_and_trains(standin, tmp_path, capsys, spec, warns):
    out = tmp_path / "run"
    code, _, stderr = run_main(["--data", standin, "--out", str(out), *TINY, "--augment", spec], capsys)
    assert code == 0, stderr
    assert stderr == (FLIP_WARNING.format(spec=spec) if warns else "")
    assert sorted(os.listdir(out)) == sorted(train.OUTPUT_FILES)

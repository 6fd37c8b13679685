"""train.py: --arch and its settings, --augment, --weight-decay and adamw, --schedule, --patience, --resume, the
data-dependent default sizes and the per-epoch progress line; build_model, model_arguments, train_model."""
import json
import os
import re
import warnings
from functools import partial

import numpy as np
import pytest
import scipy.io
from helpers import raw_test_images, run_cli, tiny_dataset

import train
import trainer as trainer_module
from augment import DIGITS, Compose, RandomShift
from checkpoint import load_classifier, load_model, load_training_state, read_preprocessing, save_model
from dataset import StandInDataWarning, load_svhn, random_split_train_val
from layers import Flattener, FullyConnectedLayer
from metrics import multiclass_accuracy
from model import ConvNet, Sequential, lenet, vgg
from optim import SGD, Adam, AdamW, MomentumSGD, RMSProp
from schedules import StepDecay
from trainer import Dataset

QUICK = ["--max-train", "200", "--val", "50", "--max-test", "50", "--epochs", "1", "--quiet"]
SMALL_VGG = ["--arch", "vgg", "--widths", "4,8"]
run_main = partial(run_cli, train.main)  # run_main(argv, capsys) -> (exit code, stdout, stderr)


@pytest.fixture(scope="module")
def real(standin, tmp_path_factory):
    """The stand-in's files without their marker: what train.py takes for real SVHN."""
    folder = tmp_path_factory.mktemp("real")
    for name in ("train_32x32.mat", "test_32x32.mat"):
        contents = scipy.io.loadmat(os.path.join(standin, name))
        scipy.io.savemat(folder / name, {"X": contents["X"], "y": contents["y"]})
    return str(folder)


@pytest.fixture(scope="module")
def vgg_run(standin, tmp_path_factory):
    """A finished vgg run (read only)."""
    out = tmp_path_factory.mktemp("vgg") / "run"
    argv = ["--data", standin, "--out", str(out), *QUICK, *SMALL_VGG, "--epochs", "2", "--lr", "0.01"]
    assert train.main(argv) == 0
    return out


def metrics_of(folder):
    return json.loads((folder / "metrics.json").read_text())


def one_line_error(code, stderr, match, python_names=False):
    """Exit code 2 and one line matching `match` (free of `names` unless a library's message is quoted)."""
    assert code == 2
    assert stderr.startswith("train.py: error: ") and stderr.endswith("(see --help)\n")
    assert stderr.count("\n") == 1 and "Traceback" not in stderr
    assert python_names or "`" not in stderr
    assert re.search(match, stderr), stderr


# --arch and its settings

@pytest.mark.parametrize("argv, arch, expected", [
    (["--arch", "lenet"], "lenet", {"activation": "relu"}),
    (["--arch", "lenet", "--activation", "tanh"], "lenet", {"activation": "tanh"}),
    ([*SMALL_VGG, "--dropout", "0.25"], "vgg", {"widths": [4, 8], "dropout": 0.25}),
])
def test_cli_trains_each_architecture_and_records_its_arguments(standin, tmp_path, capsys, argv, arch, expected):
    out = tmp_path / "run"
    code, _, stderr = run_main(["--data", standin, "--out", str(out), *QUICK, *argv], capsys)
    assert code == 0, stderr
    metrics = metrics_of(out)
    assert metrics["model"] == {"arch": arch, **expected, "class": "Sequential", "input_shape": [32, 32, 3],
                                "n_classes": 10, "dtype": "float32", "resumed_from": None}
    arguments = metrics["arguments"]
    assert arguments["arch"] == arch and all(arguments[name] == value for name, value in expected.items())
    assert all(arguments[name] is None for name in train.ARCH_SETTINGS if name not in expected)
    model = load_model(out / "model.npz")
    assert train.model_arguments(model) == {"arch": arch, **{name: tuple(value) if isinstance(value, list) else value
                                                             for name, value in expected.items()}}
    test_X, test_y = raw_test_images(standin, 50)
    assert multiclass_accuracy(load_classifier(out / "model.npz").predict(test_X), test_y) == metrics["test_accuracy"]


@pytest.mark.parametrize("argv, match", [
    (["--arch", "lenet", "--conv1", "4"], "--conv1 applies to --arch convnet only, not to --arch lenet"),
    (["--conv2", "4", "--arch", "vgg"], "--conv2 applies to --arch convnet only, not to --arch vgg"),
    (["--widths", "4,8"], "--widths applies to --arch vgg only, not to --arch convnet"),
    (["--arch", "lenet", "--dropout", "0.5"], "--dropout applies to --arch vgg only, not to --arch lenet"),
    (["--arch", "vgg", "--activation", "tanh"], "--activation applies to --arch lenet only, not to --arch vgg"),
    (["--arch", "resnet"], "argument --arch: invalid choice: 'resnet'"),
    (["--arch", "vgg", "--widths", "4,0"], "argument --widths: must be comma-separated positive integers such as "
                                           "32,64,128, got '4,0'"),
    (["--arch", "vgg", "--widths", "4,,8"], "argument --widths: must be comma-separated positive integers"),
    (["--arch", "vgg", "--dropout", "1"], r"argument --dropout: must be a number in \[0, 1\)"),
    (["--activation", "sigmoid"], "argument --activation: invalid choice: 'sigmoid'"),
    (["--weight-decay", "-0.1"], "argument --weight-decay: must be a finite number >= 0, got '-0.1'"),
    (["--patience", "0"], "argument --patience: must be a positive integer, got '0'"),
    (["--augment", "shift:2,blur"], "argument --augment: item 'blur' of 'shift:2,blur' is unknown"),
    (["--augment", "rotate:ten"], "argument --augment: .*rotate:ten"),
    (["--schedule", "step:5"], "--schedule must be one of constant, step:EVERY:FACTOR"),
    (["--schedule", "exponential"], "--schedule must be one of"),
    (["--schedule", "cosine", "--lr-decay", "0.9"], "--lr-decay and --schedule cannot be combined: the schedule "
                                                    "sets the learning rate of every epoch; drop --lr-decay"),
])
def test_cli_refuses_flags_that_do_not_apply_or_bad_values(standin, tmp_path, capsys, argv, match):
    code, _, stderr = run_main(["--data", standin, "--out", str(tmp_path / "run"), *QUICK, *argv], capsys)
    one_line_error(code, stderr, match)
    assert os.listdir(tmp_path) == []


# --augment, --weight-decay and adamw, --schedule, --patience: what reaches the training

def spy_on_train_model(monkeypatch):
    """Record the keyword arguments train.main passes to train_model (the training still runs)."""
    calls, real = [], train.train_model

    def spy(dataset, **kwargs):
        calls.append(kwargs)
        return real(dataset, **kwargs)

    monkeypatch.setattr(train, "train_model", spy)
    return calls


def test_cli_training_options_reach_the_trainer(standin, tmp_path, capsys, monkeypatch):
    calls = spy_on_train_model(monkeypatch)
    real_trainer = train._ProgressTrainer
    trainers = []

    def keep(*args, **kwargs):
        trainers.append(real_trainer(*args, **kwargs))
        return trainers[-1]

    monkeypatch.setattr(train, "_ProgressTrainer", keep)
    argv = ["--data", standin, "--out", str(tmp_path / "run"), *QUICK, "--epochs", "3", "--optim", "adamw",
            "--augment", "default", "--schedule", "step:1:0.5", "--lr", "0.02", "--patience", "4"]
    code, _, stderr = run_main(argv, capsys)
    assert code == 0, stderr
    assert {name: calls[0][name] for name in ("optim", "augment", "schedule", "lr_decay", "weight_decay",
                                              "patience")} == {"optim": "adamw", "augment": "default",
                                                               "schedule": "step:1:0.5", "lr_decay": 1.0,
                                                               "weight_decay": 0.01, "patience": 4}
    trainer = trainers[0]
    assert repr(trainer.transform) == repr(DIGITS) and trainer.patience == 4
    assert all(isinstance(optimizer, AdamW) and optimizer.weight_decay == 0.01
               for optimizer in trainer.optimizers.values())
    assert [record["lr"] for record in trainer.history] == pytest.approx([0.02, 0.01, 0.005])
    arguments = metrics_of(tmp_path / "run")["arguments"]
    assert (arguments["schedule"], arguments["augment"], arguments["weight_decay"]) == ("step:1:0.5", "default", 0.01)


def test_cli_defaults_leave_augmentation_and_schedule_off(standin, tmp_path, capsys, monkeypatch):
    calls = spy_on_train_model(monkeypatch)
    code, _, stderr = run_main(["--data", standin, "--out", str(tmp_path / "run"), *QUICK, "--epochs", "2"], capsys)
    assert code == 0, stderr
    assert {name: calls[0][name] for name in ("augment", "schedule", "lr_decay", "weight_decay", "patience")} == {
        "augment": None, "schedule": None, "lr_decay": train.LEARNING_RATE_DECAY, "weight_decay": 0.0,
        "patience": None}
    history = metrics_of(tmp_path / "run")
    assert history["arguments"]["lr_decay"] == 0.9


def test_cli_patience_stops_a_run_that_no_longer_improves(standin, tmp_path, capsys):
    # A rate of 1e-12 changes no prediction: the second epoch cannot beat the first.
    argv = ["--data", standin, "--out", str(tmp_path / "run"), *QUICK, "--epochs", "5", "--optim", "sgd", "--lr",
            "1e-12", "--patience", "1"]
    code, _, stderr = run_main(argv, capsys)
    assert code == 0, stderr
    metrics = metrics_of(tmp_path / "run")
    assert metrics["epochs_run"] == 2 and metrics["best_epoch"] == 1


def test_cli_weight_decay_changes_the_trained_weights(standin, tmp_path, capsys):
    runs = {}
    for decay in ("0", "0.5"):
        out = tmp_path / decay
        argv = ["--data", standin, "--out", str(out), *QUICK, "--optim", "sgd", "--lr", "0.01", "--weight-decay",
                decay]
        assert run_main(argv, capsys)[0] == 0
        runs[decay] = load_model(out / "model.npz").params()["conv1_W"].value
    assert np.linalg.norm(runs["0.5"]) < np.linalg.norm(runs["0"])


# Sizes by default: all of real SVHN, the notebook's subsets of the stand-in

def spy_on_sizes(monkeypatch):
    """Record the sizes train.py asks load_svhn for, then stop the run as Ctrl-C would (nothing is written)."""
    sizes = []

    def load(folder, max_train, max_test, seed=42):
        sizes.append((max_train, max_test))
        raise KeyboardInterrupt

    monkeypatch.setattr(train, "load_svhn", load)
    return sizes


@pytest.mark.parametrize("data, expected", [("standin", (10000, 1000)), ("real", (None, None))])
def test_default_sizes_depend_on_the_data(standin, real, tmp_path, capsys, monkeypatch, data, expected):
    sizes = spy_on_sizes(monkeypatch)
    folder = {"standin": standin, "real": real}[data]
    code, _, _ = run_main(["--data", folder, "--out", str(tmp_path / "run"), "--quiet"], capsys)
    assert code == 130 and sizes == [expected]
    sizes.clear()
    run_main(["--data", folder, "--out", str(tmp_path / "run"), "--quiet", "--max-train", "7", "--val", "2",
              "--max-test", "all"], capsys)
    assert sizes == [(7, None)]


def test_real_svhn_is_used_whole_by_default(real, tmp_path, capsys):
    out = tmp_path / "run"
    code, stdout, stderr = run_main(["--data", real, "--out", str(out), "--val", "50", "--epochs", "1", "--conv1", "2",
                                     "--conv2", "2", "--quiet"], capsys)
    assert code == 0, stderr
    assert "stand-in" not in stdout
    assert metrics_of(out)["data"] == {"folder": real, "standin": False, "n_train": 250, "n_val": 50, "n_test": 100}
    assert metrics_of(out)["arguments"]["max_train"] is None


def test_is_standin_is_false_for_missing_or_unreadable_files(tmp_path):
    assert train._is_standin(tmp_path / "nothing") is False
    for name in ("train_32x32.mat", "test_32x32.mat"):
        (tmp_path / name).write_bytes(b"not a mat file")
    assert train._is_standin(tmp_path) is False


# The progress line

def test_cli_prints_how_long_each_epoch_took_and_the_time_left(standin, tmp_path, capsys):
    argv = ["--data", standin, "--out", str(tmp_path / "run"), *QUICK[:-1], "--epochs", "2", "--conv1", "2",
            "--conv2", "2"]
    code, stdout, stderr = run_main(argv, capsys)
    assert code == 0, stderr
    lines = [line for line in stdout.splitlines() if " took " in line]
    assert len(lines) == 2, stdout
    assert re.fullmatch(r"Epoch 1/2 took \d+\.\d s; about \d+\.\d s left", lines[0])
    assert re.fullmatch(r"Epoch 2/2 took \d+\.\d s; \d+\.\d s in all", lines[1])


@pytest.mark.parametrize("seconds, patience, epoch, expected", [
    ([2.0, 4.0], None, 2, "Epoch 2/10 took 4.0 s; about 24 s left"),
    ([30.0], 3, 1, "Epoch 1/10 took 30 s; at most 4 min 30 s left"),
    ([100.0, 200.0], None, 2, "Epoch 2/40 took 3 min 20 s; about 1 h 35 min left"),
    ([5.0, 6.0, 7.0], None, 3, "Epoch 3/3 took 7.0 s; 18 s in all"),
])
def test_progress_line(seconds, patience, epoch, expected):
    history = [{"epoch": k, "seconds": value} for k, value in enumerate(seconds, start=epoch - len(seconds) + 1)]
    last_epoch = int(re.match(r"Epoch \d+/(\d+)", expected)[1])
    assert train.progress_line(history, last_epoch, patience) == expected


# --resume

def resume_with_no_step(checkpoint, standin, out, capsys, epochs="3"):
    """Resume `checkpoint` for one epoch at a rate of 1e-12, which leaves the weights as they were; return
    metrics.json."""
    argv = ["--data", standin, "--out", str(out), *QUICK, "--epochs", epochs, "--optim", "sgd", "--lr", "1e-12",
            "--resume", str(checkpoint)]
    code, _, stderr = run_main(argv, capsys)
    assert code == 0, stderr
    return metrics_of(out)


def test_resume_starts_from_the_checkpoints_weights_and_architecture(vgg_run, standin, tmp_path, capsys):
    after = resume_with_no_step(vgg_run / "model.npz", standin, tmp_path / "more", capsys)
    before = metrics_of(vgg_run)
    assert after["model"] == {**before["model"], "resumed_from": str(vgg_run / "model.npz")}
    assert after["model"]["arch"] == "vgg" and after["model"]["widths"] == [4, 8]
    assert after["arguments"]["arch"] == "vgg" and after["arguments"]["widths"] == [4, 8]
    assert after["arguments"]["conv1"] is None and after["arguments"]["dtype"] == "float32"
    old, new = load_model(vgg_run / "model.npz"), load_model(tmp_path / "more" / "model.npz")
    for name, param in old.params().items():
        np.testing.assert_allclose(new.params()[name].value, param.value, rtol=0, atol=1e-9)
    np.testing.assert_array_equal(read_preprocessing(tmp_path / "more" / "model.npz")["mean_image"],
                                  read_preprocessing(vgg_run / "model.npz")["mean_image"])


def test_resume_prepares_the_data_as_the_checkpoint_was_trained(standin, tmp_path, capsys, monkeypatch):
    first = tmp_path / "first"
    argv = ["--data", standin, "--out", str(first), *QUICK, "--conv1", "4", "--conv2", "8", "--lr", "0.01",
            "--epochs", "2"]
    assert run_main(argv, capsys)[0] == 0
    # Without BatchNorm nothing changes at a rate of 1e-12: the same predictions as reported before.
    after = resume_with_no_step(first / "model.npz", standin, tmp_path / "more", capsys)
    assert after["test_accuracy"] == metrics_of(first)["test_accuracy"]
    # A checkpoint whose mean is not the training set's: the resumed run subtracts it, not its own.
    classifier = load_classifier(first / "model.npz")
    shifted = {"scale": 1 / 255, "mean_image": classifier.preprocessing["mean_image"] + np.float32(0.25)}
    save_model(classifier.model, tmp_path / "shifted.npz", preprocessing=shifted)
    calls = spy_on_train_model(monkeypatch)
    datasets = []
    monkeypatch.setattr(train, "Dataset", lambda *arrays: datasets.append(Dataset(*arrays)) or datasets[-1])
    argv = ["--data", standin, "--out", str(tmp_path / "third"), *QUICK[:-3], "--epochs", "1", "--quiet",
            "--max-train", "150", "--resume", str(tmp_path / "shifted.npz")]
    assert run_main(argv, capsys)[0] == 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StandInDataWarning)
        raw_X, raw_y, test_X, _ = load_svhn(standin, 150, 50)
    train_X, _, val_X, _ = random_split_train_val(raw_X, raw_y, 50)
    preprocess = load_classifier(tmp_path / "shifted.npz").preprocess
    np.testing.assert_array_equal(datasets[0].train_X, preprocess(train_X))
    np.testing.assert_array_equal(datasets[0].val_X, preprocess(val_X))
    assert calls[0]["model"] is not None


def test_resume_trains_further_and_keeps_the_checkpoints_dtype(standin, tmp_path, capsys):
    first = tmp_path / "first"
    argv = ["--data", standin, "--out", str(first), *QUICK, "--arch", "lenet", "--activation", "tanh", "--dtype",
            "float64"]
    assert run_main(argv, capsys)[0] == 0
    second = tmp_path / "second"
    argv = ["--data", standin, "--out", str(second), *QUICK, "--arch", "lenet", "--activation", "tanh",
            "--epochs", "2", "--resume", str(first / "model.npz")]
    code, _, stderr = run_main(argv, capsys)
    assert code == 0, stderr
    model = load_model(second / "model.npz")
    assert model.dtype == np.float64 and train.model_arguments(model) == {"arch": "lenet", "activation": "tanh"}
    assert not np.array_equal(model.params()["conv1_W"].value,
                              load_model(first / "model.npz").params()["conv1_W"].value)


RECIPE = ["--max-train", "100", "--val", "36", "--max-test", "20", "--conv1", "3", "--conv2", "4", "--epochs", "4",
          "--optim", "adamw", "--weight-decay", "0.02", "--schedule", "warmup:1+cosine", "--augment", "shift:1",
          "--batch-size", "32", "--quiet"]


def training_state_of(folder):
    return load_training_state(folder / "model.npz")


def test_an_interrupted_run_resumed_ends_as_one_never_interrupted(standin, tmp_path, capsys, monkeypatch):
    straight = tmp_path / "straight"
    assert run_main(["--data", standin, "--out", str(straight), *RECIPE], capsys)[0] == 0
    take_step = trainer_module.Trainer._train_step

    def ctrl_c_in_epoch_three(self, X, y, epoch, batch, rate):
        if epoch == 3 and batch == 2:
            raise KeyboardInterrupt
        return take_step(self, X, y, epoch, batch, rate)

    monkeypatch.setattr(trainer_module.Trainer, "_train_step", ctrl_c_in_epoch_three)
    stopped = tmp_path / "stopped"
    assert run_main(["--data", standin, "--out", str(stopped), *RECIPE], capsys)[0] == 130
    monkeypatch.undo()
    resumed = tmp_path / "resumed"
    code, stdout, stderr = run_main(["--resume", str(stopped / "model.npz"), "--out", str(resumed), "--quiet"],
                                    capsys)
    assert code == 0, stderr
    assert stdout.startswith(f"resumed from {stopped / 'model.npz'} at epoch 2\n") and "overrides" not in stdout
    expected, state = training_state_of(straight), training_state_of(resumed)
    assert state["epoch"] == 4 and [record["epoch"] for record in state["history"]] == [1, 2, 3, 4]
    for key in ("params", "best_params"):
        for name, value in expected[key].items():
            np.testing.assert_array_equal(state[key][name], value, err_msg=f"{key} {name}")
    for key in ("history",):
        assert [{k: v for k, v in record.items() if k != "seconds"} for record in state[key]] == [
            {k: v for k, v in record.items() if k != "seconds"} for record in expected[key]]
    assert state["settings"] == expected["settings"]
    assert metrics_of(resumed)["test_accuracy"] == metrics_of(straight)["test_accuracy"]
    for name, param in load_model(straight / "model.npz").params().items():
        np.testing.assert_array_equal(load_model(resumed / "model.npz").params()[name].value, param.value)
    with open(resumed / "history.csv") as file:
        assert [line.split(",")[0] for line in file.read().splitlines()] == ["epoch", "1", "2", "3", "4"]


def test_resume_says_which_flags_override_the_runs_settings(standin, tmp_path, capsys, monkeypatch):
    first = tmp_path / "first"
    assert run_main(["--data", standin, "--out", str(first), *RECIPE[:-11], "--epochs", "2", "--optim", "adamw",
                     "--schedule", "warmup:1+cosine", "--quiet"], capsys)[0] == 0
    calls = spy_on_train_model(monkeypatch)
    argv = ["--resume", str(first / "model.npz"), "--out", str(tmp_path / "more"), "--quiet", "--epochs", "3",
            "--optim", "momentum", "--lr", "0.003"]
    code, stdout, stderr = run_main(argv, capsys)
    assert code == 0, stderr
    assert stdout.splitlines()[:4] == [
        f"resumed from {first / 'model.npz'} at epoch 2",
        "--epochs 3 overrides the run's 2",
        "--optim momentum overrides the run's adamw",  # --lr 0.003 is the run's own: no line
        "the optimizer state starts from zero: --optim momentum cannot use the state of another"]
    call = calls[0]
    assert (call["optim"], call["epochs"], call["schedule"], call["lr_decay"]) == ("momentum", 3, "warmup:1+cosine",
                                                                                  1.0)
    assert call["weight_decay"] == 0.0  # the default of the given --optim, not adamw's 0.01 of the run
    assert "optimizers" not in call["training_state"] and call["training_state"]["epoch"] == 2
    assert metrics_of(tmp_path / "more")["arguments"]["max_test"] == 20  # the data settings come from the run


def test_resume_of_a_checkpoint_without_training_state_says_so(standin, tmp_path, capsys):
    first = tmp_path / "first"
    assert run_main(["--data", standin, "--out", str(first), *QUICK, "--conv1", "2", "--conv2", "2"], capsys)[0] == 0
    classifier = load_classifier(first / "model.npz")
    save_model(classifier.model, tmp_path / "old.npz", preprocessing=classifier.preprocessing)  # the old format
    argv = ["--data", standin, "--out", str(tmp_path / "more"), *QUICK, "--resume", str(tmp_path / "old.npz")]
    code, stdout, stderr = run_main(argv, capsys)
    assert code == 0, stderr
    assert stdout.startswith(f"resumed from {tmp_path / 'old.npz'}, which holds no training state (saved without "
                             f"one, or before checkpoints kept it): the optimizer state starts from zero")
    assert training_state_of(tmp_path / "more")["epoch"] == 1


def test_resume_of_a_finished_run_asks_for_more_epochs(vgg_run, standin, tmp_path, capsys):
    argv = ["--out", str(tmp_path / "more"), "--quiet", "--resume", str(vgg_run / "model.npz")]
    one_line_error(*run_main(argv, capsys)[::2], r"--resume \S+ has trained 2 epochs, as many as --epochs 2: give "
                                                  r"--epochs above 2 \(the epochs of the whole run\) to train further")
    assert not (tmp_path / "more").exists()


@pytest.mark.parametrize("argv, match", [
    (["--arch", "lenet"], r"--resume \S+ holds a vgg model with --widths 4,8 --dropout 0; --arch lenet asks for "
                          r"another \(drop the architecture flags: they come from the checkpoint\)"),
    (["--widths", "4,16"], "holds a vgg model with --widths 4,8 --dropout 0; --widths 4,16 asks for another"),
    (["--conv1", "4"], r"--conv1 applies to --arch convnet only, not to --arch vgg \(the architecture of --resume "),
    (["--dtype", "float64"], r"--resume \S+ holds a float32 model; drop --dtype float64, or give --dtype float32"),
])
def test_resume_refuses_flags_that_contradict_the_checkpoint(vgg_run, standin, tmp_path, capsys, argv, match):
    argv = ["--data", standin, "--out", str(tmp_path / "run"), *QUICK, "--resume", str(vgg_run / "model.npz"),
            *argv]
    one_line_error(*run_main(argv, capsys)[::2], match)
    assert os.listdir(tmp_path) == []


def test_resume_accepts_flags_that_match_the_checkpoint(vgg_run, standin, tmp_path, capsys):
    argv = ["--data", standin, "--out", str(tmp_path / "run"), *QUICK, *SMALL_VGG, "--dropout", "0",
            "--dtype", "float32", "--epochs", "3", "--resume", str(vgg_run / "model.npz")]
    code, _, stderr = run_main(argv, capsys)
    assert code == 0, stderr


def test_resume_refuses_unusable_checkpoints(standin, tmp_path, capsys):
    argv = ["--data", standin, "--out", str(tmp_path / "run"), *QUICK, "--resume"]
    one_line_error(*run_main([*argv, str(tmp_path / "none.npz")], capsys)[::2],
                   rf"--resume {re.escape(str(tmp_path / 'none.npz'))}: No such file or directory")
    (tmp_path / "notes.npz").write_text("hello")
    one_line_error(*run_main([*argv, str(tmp_path / "notes.npz")], capsys)[::2],
                   r"--resume \S+notes.npz is not a checkpoint of this package: it is text")
    model = ConvNet((32, 32, 3), 10, 2, 2, seed=0)
    save_model(model, tmp_path / "bare.npz")
    one_line_error(*run_main([*argv, str(tmp_path / "bare.npz")], capsys)[::2],
                   r"--resume \S+bare.npz holds no preprocessing \(scale and mean image\) to prepare the data as the "
                   r"model was trained: give the model.npz of a train.py run")
    small = ConvNet((16, 16, 3), 10, 2, 2, seed=0)
    save_model(small, tmp_path / "small.npz", preprocessing={"scale": 1 / 255, "mean_image": np.zeros((16, 16, 3))})
    one_line_error(*run_main([*argv, str(tmp_path / "small.npz")], capsys)[::2],
                   r"holds a model of \(16, 16, 3\) images; SVHN's are \(32, 32, 3\)")
    three = ConvNet((32, 32, 3), 3, 2, 2, seed=0)
    save_model(three, tmp_path / "three.npz", preprocessing={"scale": 1 / 255})
    one_line_error(*run_main([*argv, str(tmp_path / "three.npz")], capsys)[::2],
                   "holds a model of 3 classes; SVHN has 10 digits")
    custom = Sequential([Flattener(), FullyConnectedLayer(32 * 32 * 3, 10, seed=0)], input_shape=(32, 32, 3))
    save_model(custom, tmp_path / "custom.npz", preprocessing={"scale": 1 / 255})
    one_line_error(*run_main([*argv, str(tmp_path / "custom.npz")], capsys)[::2],
                   r"holds a Sequential that no --arch builds; train.py continues only its own architectures "
                   r"\(convnet, lenet, vgg\)")
    assert sorted(os.listdir(tmp_path)) == sorted(f"{name}.npz" for name in ("notes", "bare", "small", "three",
                                                                              "custom"))


# The library functions behind the flags

@pytest.mark.parametrize("name, kind, decay", [("sgd", SGD, 0.0), ("momentum", MomentumSGD, 0.0),
                                               ("adam", Adam, 0.0), ("rmsprop", RMSProp, 0.0),
                                               ("adamw", AdamW, 0.01)])
def test_make_optimizer_weight_decay(name, kind, decay):
    assert type(train.make_optimizer(name)) is kind and train.make_optimizer(name).weight_decay == decay
    assert train.make_optimizer(name, weight_decay=0.25).weight_decay == 0.25


@pytest.mark.parametrize("arguments", [
    {"arch": "convnet", "conv1": 3, "conv2": 5},
    {"arch": "lenet", "activation": "relu"},
    {"arch": "lenet", "activation": "tanh"},
    {"arch": "vgg", "widths": (4,), "dropout": 0.0},
    {"arch": "vgg", "widths": (2, 4, 8), "dropout": 0.5},
])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_model_arguments_rebuild_the_architecture(tmp_path, arguments, dtype):
    model = train.build_model(**arguments, dtype=dtype, seed=0)
    save_model(model, tmp_path / "model.npz")
    assert train.model_arguments(load_model(tmp_path / "model.npz")) == arguments
    assert train.model_arguments(model) == arguments


def test_build_model_defaults_and_ignored_settings():
    assert train.build_model(conv1=None, widths=(8,)).config()["conv1_channels"] == train.CONV1_CHANNELS
    assert train.model_arguments(train.build_model("vgg", conv1=99, activation="tanh")) == {
        "arch": "vgg", "widths": train.WIDTHS, "dropout": train.DROPOUT}
    assert (json.dumps(train.build_model("lenet", seed=0).config())
            == json.dumps(Sequential(list(lenet(dtype=np.float32, seed=0).layers.items()),
                                     input_shape=(32, 32, 3)).config()))
    assert train.build_model("vgg", reg=0.5).reg == 0.5 and train.build_model(reg=0.5).reg == 0.5
    assert train.build_model("lenet").dtype == np.float32


def test_build_model_refuses_an_unknown_arch():
    with pytest.raises(ValueError, match="`arch` must be one of convnet, lenet, vgg, got 'resnet'"):
        train.build_model("resnet")


def test_model_arguments_of_other_models_is_none():
    custom = Sequential([Flattener(), FullyConnectedLayer(12, 10, seed=0)], input_shape=(2, 2, 3))
    assert train.model_arguments(custom) is None
    assert train.model_arguments(Sequential([Flattener(), FullyConnectedLayer(12, 10, seed=0)])) is None
    assert train.model_arguments(object()) is None


def test_train_model_with_each_architecture_schedule_and_augmentation():
    dataset = tiny_dataset(48, 16)
    model, trainer = train.train_model(dataset, arch="lenet", activation="tanh", conv1=99, epochs=2, batch_size=16,
                                       schedule="step:1:0.5", augment="shift:1", lr=0.01, seed=0)
    assert train.model_arguments(model) == {"arch": "lenet", "activation": "tanh"}
    assert [record["lr"] for record in trainer.history] == pytest.approx([0.01, 0.005])
    assert isinstance(trainer.transform, Compose) and isinstance(trainer.schedule, object)
    model, trainer = train.train_model(dataset, arch="vgg", widths=(2, 4), epochs=1, batch_size=16,
                                       schedule=StepDecay(1, 0.1), augment=RandomShift(1), seed=0)
    assert isinstance(trainer.transform, RandomShift) and trainer.history[0]["lr"] == train.LEARNING_RATE


def test_train_model_augmentation_changes_the_run_and_is_reproducible():
    runs = [train.train_model(tiny_dataset(48, 16), conv1=2, conv2=2, epochs=2, batch_size=16, augment=augment,
                              seed=1)[1].history for augment in (None, "shift:2", "shift:2")]
    losses = [[record["loss"] for record in history] for history in runs]
    assert losses[1] == losses[2] and losses[0] != losses[1]


def test_train_model_continues_a_given_model():
    dataset = tiny_dataset(48, 16)
    model = vgg((16, 16, 3), widths=(2,), dtype=np.float32, seed=0)
    before = {name: param.value.copy() for name, param in model.params().items()}
    trained, _ = train.train_model(dataset, model=model, arch="lenet", epochs=1, batch_size=16)
    assert trained is model
    assert any(not np.array_equal(param.value, before[name]) for name, param in model.params().items())

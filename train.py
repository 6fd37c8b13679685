"""Train the ConvNet on SVHN (or its offline stand-in) from the command line and keep what it learned.

Usage::

    python train.py --data data --out runs/first
    python train.py --help

The run loads SVHN, preprocesses it as the notebook does (scale to [0, 1], subtract the training mean), trains with
progress bars and writes to `--out`: `history.csv`, `learning_curves.png`, `confusion_matrix.png`,
`misclassified.png`, `filters.png`, the checkpoints `model.npz` (the evaluated model) and `model.best.npz`, both
with the preprocessing (`checkpoint.load_classifier` predicts on raw images with either), and `metrics.json`.

Everything is written into a new hidden folder beside `--out` and moved into place when the run ends, so two runs
never mix their files and a failed or interrupted run leaves no half-written folder. A non-empty `--out` is refused
unless `--overwrite` is given, and then replaced only when the new run ends. Bad arguments get a one-line error on
stderr and exit code 2; Ctrl-C exits with code 130 after saving the completed epochs.

The building blocks are importable: `prepare_for_neural_network` and `train_model` (which `search.py` reuses).
"""
import argparse
import contextlib
import csv
import errno
import itertools
import json
import os
import platform
import re
import secrets
import shutil
import sys
import time
import warnings

import matplotlib
import numpy as np
import scipy
import scipy.io

import plots
from checkpoint import save_model
from dataset import STANDIN_KEY, TEST_FILE, TRAIN_FILE, StandInDataWarning, load_svhn, random_split_train_val
from metrics import confusion_counts, multiclass_accuracy
from model import ConvNet
from optim import SGD, Adam, MomentumSGD, RMSProp
from trainer import Dataset, Trainer, TrainingDivergedError
from validation import check_dtype, check_finite, check_rng, parse_argument

N_CLASSES = 10
CONV1_CHANNELS = 16
CONV2_CHANNELS = 32
OPTIMIZER = "adam"
LEARNING_RATE = 3e-3
LEARNING_RATE_DECAY = 0.9
MOMENTUM = 0.9
PIXEL_SCALE = 1 / 255
EPOCHS = 20
BATCH_SIZE = 64
OPTIMIZERS = ("sgd", "momentum", "nesterov", "adam", "rmsprop")
OUTPUT_FILES = ("history.csv", "learning_curves.png", "confusion_matrix.png", "misclassified.png", "filters.png",
                "model.npz", "model.best.npz", "metrics.json")


def prepare_for_neural_network(train_X, *others, dtype=np.float32):
    """Scale pixel values to [0, 1] and subtract the mean training image from every set.

    Parameters
    ----------
    train_X : ndarray of shape (n_train, height, width, channels)
        Pixel values in 0..255, integers or finite floats; its mean image is the one subtracted.
    *others : ndarrays of shape (n, height, width, channels)
        Further sets (validation, test) scaled and shifted the same way.
    dtype : float32 or float64
        Dtype of the returned arrays (the mean is computed in float64 either way).

    Returns
    -------
    train_X, *others : ndarrays of the input shapes, `dtype`
        New arrays `X * PIXEL_SCALE - mean_image`; the inputs are not modified.
    mean_image : ndarray of shape (height, width, channels), `dtype`
        The scaled training mean, to add back for display (`plots.misclassified(..., mean_image=...)`) or to
        subtract from new images: `checkpoint.Classifier(model, {"scale": PIXEL_SCALE, "mean_image": mean_image})`
        computes exactly the same arrays from raw images.
    """
    dtype = check_dtype(dtype)
    arrays = [_check_pixels(train_X, "train_X")]
    arrays += [_check_pixels(X, f"others[{i}]", arrays[0].shape[1:]) for i, X in enumerate(others)]
    scaled = [np.multiply(X, PIXEL_SCALE, dtype=dtype) for X in arrays]
    mean_image = scaled[0].mean(axis=0, dtype=np.float64).astype(dtype)
    for X in scaled:
        X -= mean_image
    return (*scaled, mean_image)


def make_optimizer(name, momentum=MOMENTUM):
    """The optimizer called `name`, one of OPTIMIZERS; `momentum` is used by 'momentum' and 'nesterov' only."""
    if name not in OPTIMIZERS:
        raise ValueError(f"`optim` must be one of {', '.join(OPTIMIZERS)}, got {name!r}")
    if name == "sgd":
        return SGD()
    if name in ("momentum", "nesterov"):
        return MomentumSGD(momentum, nesterov=name == "nesterov")
    return Adam() if name == "adam" else RMSProp()


def train_model(dataset, *, conv1=CONV1_CHANNELS, conv2=CONV2_CHANNELS, optim=OPTIMIZER, lr=LEARNING_RATE,
                momentum=MOMENTUM, lr_decay=LEARNING_RATE_DECAY, reg=0.0, epochs=EPOCHS, batch_size=BATCH_SIZE,
                dtype=np.float32, seed=0, n_classes=N_CLASSES, verbose=False, restore_best=False,
                checkpoint_path=None):
    """Build a ConvNet, its optimizer and a Trainer from plain arguments, and train it.

    Parameters
    ----------
    dataset : trainer.Dataset, or any object with train_X, train_y, val_X, val_y
        Images of shape (n, height, width, channels), preprocessed; labels of shape (n,).
    conv1, conv2 : int
        Output channels of the two convolutions.
    optim : {'sgd', 'momentum', 'nesterov', 'adam', 'rmsprop'}
    lr : float > 0
        Initial learning rate, multiplied by `lr_decay` in (0, 1] after every epoch.
    momentum : float in [0, 1)
        For 'momentum' and 'nesterov'.
    reg : float >= 0
        L2 strength on the weights.
    epochs, batch_size : int
    dtype : float32 or float64
        Of the model; the images are converted to it batch by batch.
    seed : None, int or numpy.random.Generator
        One generator draws the initial weights, then shuffles every epoch.
    n_classes : int
    verbose, restore_best, checkpoint_path
        Passed to `Trainer`.

    Returns
    -------
    model : ConvNet
    trainer : Trainer
        Its `history` holds one dict per epoch.

    Raises
    ------
    trainer.TrainingDivergedError
        When the loss or a parameter becomes non-finite (too large a learning rate); numpy's overflow warnings that
        come before it are silenced.
    """
    rng = check_rng(seed)
    model = ConvNet(np.shape(dataset.train_X)[1:], n_classes, conv1, conv2, reg=reg, dtype=dtype, seed=rng)
    trainer = Trainer(model, dataset, make_optimizer(optim, momentum), num_epochs=epochs, batch_size=batch_size,
                      learning_rate=lr, learning_rate_decay=lr_decay, seed=rng, verbose=verbose,
                      restore_best=restore_best, checkpoint_path=checkpoint_path)
    with np.errstate(over="ignore", invalid="ignore"):  # divergence raises TrainingDivergedError instead
        trainer.fit()
    return model, trainer


def main(argv=None):
    """Command line entry: `python train.py [options]`, see `--help`.

    Returns 0 on success, 1 when training diverged, 130 when interrupted (Ctrl-C): after at least one epoch the
    run is saved, before that nothing is written. Bad arguments (including a missing data folder, sizes the files
    cannot provide or a non-empty --out without --overwrite) raise SystemExit(2) after a one-line message on
    stderr, as argparse does.
    """
    parser = _parser()
    args = parser.parse_args(argv)
    start = time.perf_counter()
    out = os.path.normpath(args.out)
    stage = "before the first epoch ended"
    try:
        try:
            _check_out(out, args.overwrite)
            split, mean_image, is_standin = _load(args)
            dataset = Dataset(*split[:4])
        except (ValueError, TypeError, OSError) as error:
            parser.error(_for_command_line(str(error), args))
        if is_standin:
            print(f"note: {args.data} holds the synthetic stand-in made by standin.py, not SVHN: these accuracies "
                  f"are NOT SVHN results")
        test_X, test_y = split[4:]
        with _staging_folder(out) as staging:
            try:
                model, trainer = train_model(
                    dataset, conv1=args.conv1, conv2=args.conv2, optim=args.optim, lr=args.lr,
                    momentum=args.momentum, lr_decay=args.lr_decay, reg=args.reg, epochs=args.epochs,
                    batch_size=args.batch_size, dtype=args.dtype, seed=args.seed, verbose=not args.quiet,
                    restore_best=True, checkpoint_path=os.path.join(staging, "model.npz"))
            except TrainingDivergedError as error:
                return _fail(parser, 1, f"training diverged at epoch {error.epoch}, batch {error.batch}: "
                                        f"{_what_diverged(error)}; nothing was written to {out}. Rerun with a "
                                        f"smaller --lr (this run used --lr {args.lr:g}).")
            if not trainer.history:
                return _fail(parser, 130, f"interrupted {stage}; nothing was written to {out}")
            stage = "while writing the results"
            predictions = model.predict(test_X)
            metrics = _metrics(args, trainer, predictions, test_y, is_standin, time.perf_counter() - start)
            _write_outputs(staging, trainer, model, metrics, test_X, test_y, predictions, mean_image)
            target = _publish(staging, out, args.overwrite)
    except KeyboardInterrupt:
        return _fail(parser, 130, f"interrupted {stage}; nothing was written to {out}")
    if target != out:
        _say(parser, f"note: {out} was filled by another run while this one trained; this run's files are in "
                     f"{target} instead")
    print(f"test accuracy {metrics['test_accuracy']:.4f} on {len(test_y)} images after {metrics['epochs_run']} "
          f"epochs ({metrics['run_seconds']:.0f} s); files in {target}: {', '.join(OUTPUT_FILES)}")
    if trainer.interrupted:
        return _fail(parser, 130, f"interrupted after epoch {trainer.epoch} of {args.epochs}; the files in {target} "
                                  f"hold the model of epoch {trainer.best_epoch}, the best of those")
    return 0


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line on stderr (no usage block), with exit code 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {_one_line(message)} (see --help)\n")


def _parser():
    parser = _Parser(prog="train.py", formatter_class=argparse.ArgumentDefaultsHelpFormatter,
                     description="Train the ConvNet on SVHN (or the stand-in made by standin.py) and write the "
                                 "history, plots, checkpoint and metrics.json to --out.",
                     epilog=f"Files written to --out: {', '.join(OUTPUT_FILES)}. Exit codes: 0 done, 1 training "
                            f"diverged (nothing written), 2 bad arguments, 130 interrupted by Ctrl-C (the epochs "
                            f"completed are saved; nothing is written when the first one did not end).")
    add = parser.add_argument
    add("--data", default="data", help="folder holding train_32x32.mat and test_32x32.mat")
    add("--max-train", type=_count, default=10000, help="images drawn from the training file, 'all' for every one "
                                                       "(the validation images are taken from these)")
    add("--val", type=_positive_int, default=1000, help="of those, images held out for validation")
    add("--max-test", type=_count, default=1000, help="images drawn from the test file, 'all' for every one")
    add("--epochs", type=_positive_int, default=EPOCHS, help="training epochs")
    add("--batch-size", type=_positive_int, default=BATCH_SIZE, help="images per step")
    add("--lr", type=_positive_float, default=LEARNING_RATE, help="initial learning rate")
    add("--lr-decay", type=_decay, default=LEARNING_RATE_DECAY, help="factor on the learning rate after each epoch")
    add("--optim", choices=OPTIMIZERS, default=OPTIMIZER, help="update rule")
    add("--momentum", type=_fraction, default=MOMENTUM, help="momentum of --optim momentum/nesterov")
    add("--reg", type=_non_negative_float, default=0.0, help="L2 strength on the weights")
    add("--conv1", type=_positive_int, default=CONV1_CHANNELS, help="channels of the first convolution")
    add("--conv2", type=_positive_int, default=CONV2_CHANNELS, help="channels of the second convolution")
    add("--dtype", choices=("float32", "float64"), default="float32", help="dtype of the model and the data")
    add("--seed", type=_non_negative_int, default=0, help="seed of the initial weights and the shuffling (the data "
                                                          "subsets are fixed, as in the notebook)")
    add("--out", default=time.strftime("runs/%Y%m%d-%H%M%S"),
        help="output folder: new or empty; the run is written beside it and moved into place when it ends")
    add("--overwrite", action="store_true",
        help="replace a non-empty --out (the folder of an earlier run) when this run ends")
    add("--quiet", action="store_true", help="no progress bars or per-epoch lines")
    return parser


def _check_out(out, overwrite):
    """Refuse an --out that is a file, or a non-empty one unless `overwrite` and it holds only a run's files."""
    if os.path.lexists(out) and not os.path.isdir(out):
        raise ValueError(f"--out {out} is a file; give a folder")
    existing = os.path.dirname(os.path.abspath(out))
    while not os.path.exists(existing):
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing) or not os.access(existing, os.W_OK | os.X_OK):
        raise ValueError(f"--out {out} cannot be created: {existing} is "
                         f"{'not a folder' if not os.path.isdir(existing) else 'a folder this user cannot write to'}")
    names = sorted(os.listdir(out)) if os.path.isdir(out) else []
    if names and not overwrite:
        raise ValueError(f"--out {out} is not empty ({_some(names)}): give a new folder, or add --overwrite to "
                         f"replace it at the end of this run")
    foreign = [name for name in names if name not in OUTPUT_FILES]
    if foreign:
        raise ValueError(f"--out {out} holds files train.py does not write ({_some(foreign)}): --overwrite "
                         f"replaces only the folder of an earlier run; move them away or give another --out")


def _some(names):
    """The first three of `names`, and how many more there are."""
    return ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")


@contextlib.contextmanager
def _staging_folder(out):
    """A new hidden folder beside `out` to write the run into; removed on exit unless it was moved away.

    The parent folders created for it are removed too when they are left empty.
    """
    parent, name = os.path.split(os.path.abspath(out))
    created = _missing_folders(parent)
    os.makedirs(parent, exist_ok=True)
    while True:
        # os.mkdir, unlike tempfile.mkdtemp (0700), gives the folder the permissions of any other new folder.
        staging = os.path.join(parent, f".{name}.{secrets.token_hex(4)}.tmp")
        with contextlib.suppress(FileExistsError):
            os.mkdir(staging)
            break
    try:
        yield staging
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        for folder in created:
            with contextlib.suppress(OSError):
                os.rmdir(folder)


def _missing_folders(folder):
    """`folder` and its ancestors that do not exist, deepest first."""
    missing = []
    while not os.path.exists(folder):
        missing.append(folder)
        folder = os.path.dirname(folder)
    return missing


def _publish(staging, out, overwrite):
    """Move the finished run from `staging` to `out` and return where it went.

    A rename never merges folders: when another run filled `out` meanwhile, this run goes to the first free
    sibling `out-2`, `out-3`, ... With `overwrite`, the folder at `out` is moved aside first and removed once the
    new run is in place.
    """
    retired = None
    if overwrite and os.path.isdir(out):
        retired = f"{staging}.old"  # the staging name is unique, so this one is too
        os.rename(out, retired)
    try:
        target = _rename_to_free_name(staging, out)
    except BaseException:
        if retired is not None and not os.path.lexists(out):
            os.rename(retired, out)
        raise
    if retired is not None:
        _remove(retired)
    return target


def _rename_to_free_name(source, target):
    """Rename the folder `source` to `target`, or to `target-2`, `target-3`, ... when that is taken."""
    for candidate in itertools.chain([target], (f"{target}-{n}" for n in itertools.count(2))):
        try:
            os.rename(source, candidate)
            return candidate
        except OSError as error:
            if error.errno not in (errno.EEXIST, errno.ENOTEMPTY, errno.ENOTDIR, errno.EISDIR):
                raise


def _remove(path):
    if os.path.islink(path):
        os.unlink(path)
    else:
        shutil.rmtree(path, ignore_errors=True)


def _load(args):
    """Load, split and preprocess the data: ((train_X, train_y, val_X, val_y, test_X, test_y), mean, is_standin)."""
    if args.max_train is not None and args.val >= args.max_train:  # fail before reading the files
        raise ValueError(f"--val must be smaller than --max-train so that images are left for training, "
                         f"got --val {args.val} and --max-train {args.max_train}")
    with warnings.catch_warnings():
        # The stand-in is detected from its files below (the warning fires once per process) and said in one line.
        warnings.simplefilter("ignore", StandInDataWarning)
        train_X, train_y, test_X, test_y = load_svhn(args.data, args.max_train, args.max_test)
    if args.val >= len(train_y):
        raise ValueError(f"--val must be smaller than the {len(train_y)} images in "
                         f"{os.path.join(args.data, TRAIN_FILE)} so that images are left for training, "
                         f"got --val {args.val} and --max-train all")
    train_X, train_y, val_X, val_y = random_split_train_val(train_X, train_y, args.val)
    train_X, val_X, test_X, mean_image = prepare_for_neural_network(train_X, val_X, test_X, dtype=args.dtype)
    return (train_X, train_y, val_X, val_y, test_X, test_y), mean_image, _is_standin(args.data)


def _is_standin(folder):
    """Whether either SVHN file in `folder` carries the marker variable that standin.py writes."""
    return any(STANDIN_KEY in (name for name, _, _ in scipy.io.whosmat(os.path.join(folder, file)))
               for file in (TRAIN_FILE, TEST_FILE))


def _metrics(args, trainer, predictions, test_y, is_standin, run_seconds):
    """The contents of metrics.json; per-class accuracy is the recall of each digit (None when absent)."""
    counts = confusion_counts(test_y, predictions, N_CLASSES)
    per_class = [float(counts[k, k] / counts[k].sum()) if counts[k].sum() else None for k in range(N_CLASSES)]
    return {
        "test_accuracy": multiclass_accuracy(predictions, test_y),
        "per_class_accuracy": {str(k): accuracy for k, accuracy in enumerate(per_class)},
        "confusion_matrix": counts.tolist(),
        "confusion_matrix_rows": "true label",
        "confusion_matrix_columns": "predicted label",
        "best_val_accuracy": trainer.best_val_accuracy,
        "best_epoch": trainer.best_epoch,
        "epochs_run": trainer.epoch,
        "interrupted": trainer.interrupted,
        "run_seconds": run_seconds,
        "train_seconds": sum(record["seconds"] for record in trainer.history),
        "data": {"folder": args.data, "standin": is_standin, "n_train": len(trainer.dataset.train_y),
                 "n_val": len(trainer.dataset.val_y), "n_test": len(test_y)},
        "arguments": vars(args),
        "versions": {"python": platform.python_version(), "numpy": np.__version__, "scipy": scipy.__version__,
                     "matplotlib": matplotlib.__version__},
    }


def _write_outputs(out, trainer, model, metrics, test_X, test_y, predictions, mean_image):
    """Write every file of OUTPUT_FILES into the folder `out`; both checkpoints get the preprocessing."""
    preprocessing = {"scale": PIXEL_SCALE, "mean_image": mean_image}
    # restore_best put the best epoch's parameters back, so both files hold the model evaluated here.
    for name in ("model.npz", "model.best.npz"):
        save_model(model, os.path.join(out, name), preprocessing=preprocessing)
    with open(os.path.join(out, "history.csv"), "w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=list(trainer.history[0]))
        writer.writeheader()
        writer.writerows(trainer.history)
    figures = {
        "learning_curves.png": plots.learning_curves(trainer.history),
        "confusion_matrix.png": plots.confusion_matrix(test_y, predictions, N_CLASSES),
        "misclassified.png": plots.misclassified(test_X, test_y, predictions, mean_image=mean_image),
        "filters.png": plots.filters(model.params()["conv1_W"].value),
    }
    for name, figure in figures.items():
        figure.savefig(os.path.join(out, name), dpi=100)
    with open(os.path.join(out, "metrics.json"), "w") as file:
        json.dump(metrics, file, indent=2)


def _check_pixels(X, name, image_shape=None):
    """Return `X` as an ndarray of images (n, height, width, channels) of integers or floats."""
    X = np.asarray(X)
    if X.ndim != 4:
        raise ValueError(f"`{name}` must be 4-D (n, height, width, channels), got shape {X.shape}")
    if not (np.issubdtype(X.dtype, np.integer) or np.issubdtype(X.dtype, np.floating)):
        raise TypeError(f"`{name}` must hold pixel values 0..255 as integers or floats, got dtype {X.dtype}")
    if image_shape is not None and X.shape[1:] != image_shape:
        raise ValueError(f"`{name}` must hold images of the training shape {image_shape}, got {X.shape[1:]}")
    if np.issubdtype(X.dtype, np.floating):
        check_finite(X, name)
    return X


def _for_command_line(message, args):
    """Rephrase a library error that speaks of the Python API (arguments, None) in terms of the command line."""
    message = _one_line(message)
    match = re.fullmatch(r"`(max_train|max_test)` must be at most the number of images in (.+) \((\d+)\), got "
                         r"(\d+); pass None to take all of them", message)
    if match:
        flag = "--" + match[1].replace("_", "-")
        return (f"{flag} {match[4]} is more than the {match[3]} images in {match[2]}: give at most {match[3]}, "
                f"or {flag} all")
    match = re.fullmatch(r"`(train_X|others\[0\]|others\[1\])` must hold finite values only, got (.+)", message)
    if match:
        which = {"train_X": "training", "others[0]": "validation", "others[1]": "test"}[match[1]]
        return (f"the {which} images read from --data {args.data} hold {match[2]}: re-create or re-download the "
                f"data files")
    for name, flag in (("folder", "--data"), ("max_train", "--max-train"), ("max_test", "--max-test"),
                       ("num_val", "--val")):
        message = message.replace(f"`{name}`", flag)
    return message


def _what_diverged(error):
    """What a TrainingDivergedError found, without the name of the Trainer keyword (train.py has no flag for it)."""
    return _one_line(error.reason).replace("divergence_threshold ", "")


def _fail(parser, code, message):
    """Say `message` as the last line on stderr and return the exit `code`."""
    _say(parser, message)
    return code


def _say(parser, message):
    sys.stdout.flush()  # stderr's line comes after everything printed so far
    print(f"{parser.prog}: {message}", file=sys.stderr, flush=True)


def _one_line(message):
    return " ".join(str(message).split())


def _count(text):
    """argparse type: 'all' (None) or an integer >= 1."""
    return None if text == "all" else parse_argument(text, int, "a positive integer or 'all'", lambda value: value >= 1)


def _positive_int(text):
    return parse_argument(text, int, "a positive integer", lambda value: value >= 1)


def _non_negative_int(text):
    return parse_argument(text, int, "a non-negative integer", lambda value: value >= 0)


def _positive_float(text):
    return parse_argument(text, float, "a finite number > 0", lambda value: 0 < value < np.inf)


def _non_negative_float(text):
    return parse_argument(text, float, "a finite number >= 0", lambda value: 0 <= value < np.inf)


def _decay(text):
    return parse_argument(text, float, "a number in (0, 1]", lambda value: 0 < value <= 1)


def _fraction(text):
    return parse_argument(text, float, "a number in [0, 1)", lambda value: 0 <= value < 1)


if __name__ == "__main__":
    sys.exit(main())

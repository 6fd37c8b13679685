"""Train a ConvNet, LeNet or VGG-style network on SVHN (or its offline stand-in) from the command line and keep
what it learned.

Usage::

    python train.py --data data --out runs/first
    python train.py --arch vgg --widths 32,64,128 --augment default --schedule step:5:0.2 --out runs/vgg
    python train.py --resume runs/vgg/model.npz --epochs 25 --out runs/vgg-more
    python train.py --help

The run loads SVHN, preprocesses it as the notebook does (scale to [0, 1], subtract the training mean), trains with
progress bars and a line per epoch saying how long it took and how long the rest should take, and writes to
`--out`: `history.csv`, `learning_curves.png`, `confusion_matrix.png`, `misclassified.png`, `filters.png`, the
checkpoints `model.npz` (the evaluated model) and `model.best.npz`, both with the preprocessing
(`checkpoint.load_classifier` and `predict.py` predict on raw images with either), and `metrics.json` (with the
architecture's arguments under "model").

On real SVHN the whole training file (73,257 images, 1,000 of them held out for validation) and the whole test file
are used by default; on the stand-in made by standin.py, 10,000 and 1,000, as in the notebook.

`--resume PATH` continues the run whose `model.npz` is PATH as if it had never stopped: the architecture, dtype,
weights, BatchNorm's running statistics and preprocessing come from the file (architecture flags, when given, must
match it), and so does its training state (the last epoch's weights, the optimizer's state, the epoch count, the
schedule's position, the history, the generator) and its settings (RESUMED_SETTINGS: --epochs, --lr, --optim,
--schedule, --augment, --data, ...). A flag given on the command line overrides its setting, and the run says so, a
line per flag; `--epochs` counts the epochs of the whole run, so `--epochs 25` trains a finished 20-epoch run 5
more. A checkpoint saved before checkpoints held a training state (or by `save_model` alone) still resumes, with
the optimizer state from zero and the settings from the command line.

Everything is written into a new hidden folder beside `--out` and moved into place when the run ends
(`atomic.py`), so two runs
never mix their files and a failed or interrupted run leaves no half-written folder. A non-empty `--out` is refused
unless `--overwrite` is given, and then replaced only by a run that finished: an interrupted one is saved beside it
(`OUT-2`). Bad arguments get a one-line error on stderr and exit code 2; Ctrl-C exits with code 130 after saving
the completed epochs.

`train_model` is the run without the command line (`search.py` reuses it); it builds on
`dataset.prepare_for_neural_network`, `model.build_model` / `model_arguments` and `optim.make_optimizer`, which
`train` also exposes under their names.
"""
import argparse
import csv
import json
import os
import platform
import re
import sys
import time
import warnings

import matplotlib
import numpy as np
import scipy

import plots
from atomic import check_out, publish, staging_folder
from augment import RandomHorizontalFlip, RandomVerticalFlip
from augment import from_spec as augment_from_spec
from checkpoint import load_classifier, load_training_state, read_preprocessing, save_model
from dataset import (
    IMAGE_SHAPE,
    PIXEL_SCALE,
    TEST_FILE,
    TRAIN_FILE,
    StandInDataWarning,
    has_standin_marker,
    load_svhn,
    prepare_for_neural_network,
    random_split_train_val,
)
from metrics import confusion_counts, multiclass_accuracy
from model import (
    ACTIVATION,
    ACTIVATIONS,
    ARCH,
    ARCH_SETTINGS,
    ARCHS,
    CONV1_CHANNELS,
    CONV2_CHANNELS,
    DROPOUT,
    WIDTHS,
    ConvNet,
    build_model,
    model_arguments,
)
from optim import ADAMW_WEIGHT_DECAY, MOMENTUM, OPTIMIZERS, make_optimizer
from schedules import from_spec as schedule_from_spec
from trainer import Dataset, Trainer, TrainingDivergedError
from validation import OneLineParser, check_rng, int_at_least, one_line, parse_argument, say

N_CLASSES = 10
OPTIMIZER = "adam"
LEARNING_RATE = 3e-3
LEARNING_RATE_DECAY = 0.9
EPOCHS = 20
BATCH_SIZE = 64
# Images taken from the stand-in's files by default (real SVHN: all of them); validation images among the training.
STANDIN_MAX_TRAIN = 10000
STANDIN_MAX_TEST = 1000
VAL = 1000
# The settings of a run that --resume takes from its model.npz unless given on the command line.
RESUMED_SETTINGS = ("data", "max_train", "val", "max_test", "epochs", "patience", "batch_size", "lr", "lr_decay",
                    "schedule", "optim", "momentum", "weight_decay", "reg", "augment", "seed")
OUTPUT_FILES = ("history.csv", "learning_curves.png", "confusion_matrix.png", "misclassified.png", "filters.png",
                "model.npz", "model.best.npz", "metrics.json")


def train_model(dataset, *, arch=ARCH, conv1=None, conv2=None, widths=None, dropout=None, activation=None,
                optim=OPTIMIZER, lr=LEARNING_RATE, momentum=None, weight_decay=None, lr_decay=None, schedule=None,
                reg=0.0, augment=None, epochs=EPOCHS, batch_size=BATCH_SIZE, patience=None, dtype=np.float32,
                seed=0, n_classes=N_CLASSES, verbose=False, restore_best=False, checkpoint_path=None, model=None,
                training_state=None):
    """Build a model, its optimizer and a Trainer from plain arguments, and train it.

    Parameters
    ----------
    dataset : trainer.Dataset, or any object with train_X, train_y, val_X, val_y
        Images of shape (n, height, width, channels), preprocessed; labels of shape (n,).
    arch, conv1, conv2, widths, dropout, activation
        The architecture, as for `build_model` (None: the architecture's default; settings `arch` does not read are
        ignored).
    optim : {'sgd', 'momentum', 'nesterov', 'adam', 'adamw', 'rmsprop'}
    lr : float > 0
        Base learning rate.
    momentum : None or float in [0, 1)
        For 'momentum' and 'nesterov' (None: 0.9).
    weight_decay : None or float >= 0
        Of the optimizer, see `make_optimizer` (None: 0, or 0.01 for 'adamw').
    lr_decay : None or float in (0, 1]
        Factor on the learning rate after every epoch (None: 0.9, or 1 with a `schedule`; another value with a
        `schedule` is refused by Trainer).
    schedule : None, str or schedule
        The learning rate of epoch e is `lr * schedule(e)`; a str is read by `schedules.from_spec(schedule,
        epochs)`, e.g. 'step:5:0.2', 'cosine', 'warmup:2+cosine'.
    reg : float >= 0
        L2 strength on the weights, in the loss.
    augment : None, str or transform
        Applied to every training batch (never to validation data); a str is read by `augment.from_spec`, e.g.
        'default' (`augment.DIGITS`) or 'shift:2,rotate:10'.
    epochs, batch_size : int
        `epochs` counts the epochs of the whole run, those of `training_state` included.
    patience : None or int >= 1
        Stop after this many epochs without a better validation accuracy.
    dtype : float32 or float64
        Of the model; the images are converted to it batch by batch.
    seed : None, int or numpy.random.Generator
        One generator draws the initial weights, then shuffles (and augments) every epoch.
    n_classes : int
    verbose, restore_best, checkpoint_path
        Passed to `Trainer`; verbose also prints, after every epoch, how long it took and an estimate of the time
        left.
    model : None or model
        A model to train further (e.g. `checkpoint.load_model(path)`) instead of a new one; the architecture
        arguments, `reg` and `dtype` are then not used.
    training_state : None or dict
        `Trainer.state_dict()` of the run to continue (e.g. `checkpoint.load_training_state(path)` without its
        "settings"), loaded into the Trainer before training: its weights, optimizer state, epoch count, history.

    Returns
    -------
    model : ConvNet or Sequential
    trainer : Trainer
        Its `history` holds one dict per epoch.

    Raises
    ------
    trainer.TrainingDivergedError
        When the loss or a parameter becomes non-finite (too large a learning rate); numpy's overflow warnings that
        come before it are silenced.
    """
    rng = check_rng(seed)
    if model is None:
        model = build_model(arch, np.shape(dataset.train_X)[1:], n_classes, conv1=conv1, conv2=conv2, widths=widths,
                            dropout=dropout, activation=activation, reg=reg, dtype=dtype, seed=rng)
    if isinstance(schedule, str):
        schedule = schedule_from_spec(schedule, epochs)
    if isinstance(augment, str):
        augment = augment_from_spec(augment)
    if lr_decay is None:
        lr_decay = 1.0 if schedule is not None else LEARNING_RATE_DECAY
    trainer = _ProgressTrainer(model, dataset, make_optimizer(optim, momentum, weight_decay), num_epochs=epochs,
                               batch_size=batch_size, learning_rate=lr, learning_rate_decay=lr_decay, seed=rng,
                               verbose=verbose, restore_best=restore_best, patience=patience,
                               checkpoint_path=checkpoint_path, schedule=schedule, transform=augment)
    if training_state is not None:
        trainer.load_state_dict(training_state)
    with np.errstate(over="ignore", invalid="ignore"):  # divergence raises TrainingDivergedError instead
        trainer.fit(epochs - trainer.epoch)
    return model, trainer


class _ProgressTrainer(Trainer):
    """A Trainer that says, after each epoch's line, how long the epoch took and how long the rest should take."""

    def _run_epoch(self, last_epoch, progress):
        super()._run_epoch(last_epoch, progress)
        self._say(progress_line(self.history, last_epoch, self.patience))


def progress_line(history, last_epoch, patience=None):
    """'Epoch 3/20 took 9.1 s; about 2 min 35 s left', from the records of the epochs run so far.

    The time left is the mean time of the epochs in `history` times the epochs still to run up to `last_epoch`
    ("at most" with a `patience`, which can stop earlier); after the last epoch the line gives the total instead.
    """
    epoch, took = history[-1]["epoch"], history[-1]["seconds"]
    line = f"Epoch {epoch}/{last_epoch} took {_duration(took)}"
    if epoch >= last_epoch:
        return f"{line}; {_duration(sum(record['seconds'] for record in history))} in all"
    left = (last_epoch - epoch) * np.mean([record["seconds"] for record in history])
    return f"{line}; {'at most' if patience is not None else 'about'} {_duration(left)} left"


def main(argv=None):
    """Command line entry: `python train.py [options]`, see `--help`.

    Returns 0 on success, 1 when training diverged, 130 when interrupted (Ctrl-C): after at least one epoch the
    run is saved (beside --out when --overwrite would have replaced an earlier run), before that nothing is
    written. Bad arguments (including a missing data folder, sizes the files
    cannot provide or a non-empty --out without --overwrite) raise SystemExit(2) after a one-line message on
    stderr, as argparse does.
    """
    parser = _parser()
    args = parser.parse_args(argv)
    given = _given_flags(parser, argv)
    start = time.perf_counter()
    out = os.path.normpath(args.out)
    stage = "before the first epoch ended"
    try:
        try:
            resumed, state, notes = _resume_run(args, given) if args.resume is not None else (None, None, [])
            is_standin = _is_standin(args.data)
            _resolve(args, is_standin, resumed)
            _check_epochs_left(args, state)
            check_out(out, args.overwrite, OUTPUT_FILES)
            split, preprocessing = _load(args, resumed)
            dataset = Dataset(*split[:4])
        except (ValueError, TypeError, OSError) as error:
            parser.error(_for_command_line(str(error), args))
        if _flips(args.augment):
            say(parser.prog, f"warning: --augment {args.augment} flips the images, which is wrong for digits: a "
                             f"mirrored 2, 3, 4, 5 or 7 is not a digit, and both flips together turn a 6 into a 9 "
                             f"(see augment.py); training goes on")
        for note in notes:
            print(note)
        if is_standin:
            print(f"note: {args.data} holds the synthetic stand-in made by standin.py, not SVHN: these accuracies "
                  f"are NOT SVHN results")
        test_X, test_y = split[4:]
        with staging_folder(out) as staging:
            try:
                model, trainer = train_model(
                    dataset, **{name: getattr(args, name) for name in ("arch", *ARCH_SETTINGS)},
                    optim=args.optim, lr=args.lr, momentum=args.momentum, weight_decay=args.weight_decay,
                    lr_decay=args.lr_decay, schedule=args.schedule, reg=args.reg, augment=args.augment,
                    epochs=args.epochs, batch_size=args.batch_size, patience=args.patience, dtype=args.dtype,
                    seed=args.seed, verbose=not args.quiet, restore_best=True,
                    checkpoint_path=os.path.join(staging, "model.npz"),
                    model=None if resumed is None else resumed.model, training_state=state)
            except TrainingDivergedError as error:
                return _fail(parser, 1, f"training diverged at epoch {error.epoch}, batch {error.batch}: "
                                        f"{_what_diverged(error)}; nothing was written to {out}. Rerun with a "
                                        f"smaller --lr (this run used --lr {args.lr:g}).")
            if not trainer.history:
                return _fail(parser, 130, f"interrupted {stage}; nothing was written to {out}")
            stage = "while writing the results"
            predictions = model.predict(test_X)
            metrics = _metrics(args, model, trainer, predictions, test_y, is_standin, time.perf_counter() - start)
            settings = {name: getattr(args, name) for name in RESUMED_SETTINGS}
            _write_outputs(staging, trainer, model, metrics, test_X, test_y, predictions, preprocessing, settings)
            # An interrupted run is no success: it never replaces a run, and goes beside one in --out instead.
            target = publish(staging, out, args.overwrite and not trainer.interrupted)
    except KeyboardInterrupt:
        return _fail(parser, 130, f"interrupted {stage}; nothing was written to {out}")
    return _finish(parser, args, out, target, trainer, metrics, len(test_y))


def _finish(parser, args, out, target, trainer, metrics, n_test):
    """Say where the run published at `target` went and how it ended; return the exit code, 0 or 130."""
    kept_beside = target != out and args.overwrite and trainer.interrupted
    if target != out and not kept_beside:
        say(parser.prog, f"note: {out} was filled by another run while this one trained; this run's files are "
                         f"in {target} instead")
    print(f"test accuracy {metrics['test_accuracy']:.4f} on {n_test} images after {metrics['epochs_run']} "
          f"epochs ({metrics['run_seconds']:.0f} s); files in {target}: {', '.join(OUTPUT_FILES)}")
    if not trainer.interrupted:
        return 0
    stopped = f"interrupted after epoch {trainer.epoch} of {args.epochs}; "
    best = f"model of epoch {trainer.best_epoch}, the best of those"
    if kept_beside:
        return _fail(parser, 130, f"{stopped}{out} keeps the run it holds (--overwrite replaces it only with a run "
                                  f"that finished), and the files in {target} hold this run's {best}")
    return _fail(parser, 130, f"{stopped}the files in {target} hold the {best}")


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Each option's default after its help, unless None: the help then says what happens without it."""

    def _get_help_string(self, action):
        return action.help if action.default is None else super()._get_help_string(action)


def _parser():
    parser = OneLineParser(prog="train.py", formatter_class=_HelpFormatter,
                     description="Train a ConvNet, LeNet or VGG-style network on SVHN (or the stand-in made by "
                                 "standin.py) and write the history, plots, checkpoint and metrics.json to --out.",
                     epilog=f"Files written to --out: {', '.join(OUTPUT_FILES)}; model.npz holds the architecture, "
                            f"weights and preprocessing (python predict.py --model OUT/model.npz IMAGE...), "
                            f"and the training state that --resume continues from. Exit codes: 0 done, 1 training "
                            f"diverged (nothing written), 2 bad arguments, 130 interrupted by Ctrl-C (the epochs "
                            f"completed are saved, beside an earlier run that --overwrite would replace; nothing is "
                            f"written when the first one did not end).")
    add = parser.add_argument
    add("--data", default="data", help="folder holding train_32x32.mat and test_32x32.mat")
    add("--max-train", type=_count, default=argparse.SUPPRESS,
        help=f"images drawn from the training file, 'all' for every one; the validation images are taken from "
             f"these (default: all on real SVHN, {STANDIN_MAX_TRAIN} on the stand-in)")
    add("--val", type=int_at_least(1), default=VAL, help="of those, images held out for validation")
    add("--max-test", type=_count, default=argparse.SUPPRESS,
        help=f"images drawn from the test file, 'all' for every one (default: all on real SVHN, "
             f"{STANDIN_MAX_TEST} on the stand-in)")
    add("--arch", choices=ARCHS, default=argparse.SUPPRESS,
        help=f"the network: convnet (conv 3x3, max pool 4, twice; --conv1, --conv2), lenet (--activation) or vgg "
             f"(BatchNorm; --widths, --dropout) (default: {ARCH}, or the checkpoint's with --resume)")
    add("--conv1", type=int_at_least(1), default=argparse.SUPPRESS,
        help=f"convnet: channels of the first convolution (default: {CONV1_CHANNELS})")
    add("--conv2", type=int_at_least(1), default=argparse.SUPPRESS,
        help=f"convnet: channels of the second convolution (default: {CONV2_CHANNELS})")
    add("--widths", type=_widths, default=argparse.SUPPRESS,
        help=f"vgg: channels of each block of two convolutions, comma-separated (default: "
             f"{','.join(map(str, WIDTHS))})")
    add("--dropout", type=_fraction, default=argparse.SUPPRESS,
        help=f"vgg: dropout probability before the classifier (default: {DROPOUT:g})")
    add("--activation", choices=tuple(ACTIVATIONS), default=argparse.SUPPRESS,
        help=f"lenet: activation, tanh for the original (default: {ACTIVATION})")
    add("--resume", metavar="CHECKPOINT",
        help="continue the run of this checkpoint (the model.npz of an earlier run) as if it had never stopped: "
             "architecture, dtype, weights, preprocessing, optimizer state, epoch count, history and settings "
             "come from it; a flag given overrides its setting (architecture flags must match), --epochs counts "
             "the epochs of the whole run")
    add("--epochs", type=int_at_least(1), default=EPOCHS, help="training epochs (of the whole run, with --resume)")
    add("--patience", type=int_at_least(1),
        help="stop after this many epochs without a better validation accuracy (default: run every epoch)")
    add("--batch-size", type=int_at_least(1), default=BATCH_SIZE, help="images per step")
    add("--lr", type=_positive_float, default=LEARNING_RATE, help="initial learning rate")
    add("--lr-decay", type=_decay, default=argparse.SUPPRESS,
        help=f"factor on the learning rate after each epoch; not with --schedule (default: {LEARNING_RATE_DECAY})")
    add("--schedule", type=str,
        help="learning rate of each epoch as --lr times a schedule: step:EVERY:FACTOR (e.g. step:5:0.2), "
             "multistep:M1,M2:FACTOR, cosine, warmup:EPOCHS, warmup:EPOCHS+cosine, constant (default: --lr-decay "
             "every epoch)")
    add("--optim", choices=OPTIMIZERS, default=OPTIMIZER, help="update rule")
    add("--momentum", type=_fraction, default=MOMENTUM, help="momentum of --optim momentum/nesterov")
    add("--weight-decay", type=_non_negative_float, default=argparse.SUPPRESS,
        help=f"weight decay of the optimizer, PyTorch's meaning: added to the gradient, decoupled for adamw "
             f"(default: 0, {ADAMW_WEIGHT_DECAY:g} with --optim adamw)")
    add("--reg", type=_non_negative_float, default=0.0, help="L2 strength on the weights, in the loss")
    add("--augment", type=_augment, metavar="SPEC", nargs="?", const="default",
        help="augment every training batch: 'default', also meant by a bare --augment (augment.DIGITS: shifts up "
             "to 2 pixels, rotations up to 10 degrees, colour jitter; no flips, which are wrong for digits) or a list "
             "such as shift:2,rotate:10,color:0.2 (items: shift, crop, rotate, color, hflip, vflip) (default: none)")
    add("--dtype", choices=("float32", "float64"), default=argparse.SUPPRESS,
        help="dtype of the model and the data (default: float32, or the checkpoint's with --resume)")
    add("--seed", type=int_at_least(0), default=0, help="seed of the initial weights, the shuffling and the "
                                                          "augmentation (the data subsets are fixed, as in the "
                                                          "notebook)")
    add("--out", type=_folder, default=time.strftime("runs/%Y%m%d-%H%M%S"),
        help="output folder: new or empty; the run is written beside it and moved into place when it ends")
    add("--overwrite", action="store_true",
        help="replace a non-empty --out (the folder of an earlier run) when this run finishes; an interrupted run "
             "goes beside it, to OUT-2")
    add("--quiet", action="store_true", help="no progress bars or per-epoch lines")
    return parser


def _resolve(args, is_standin, resumed):
    """Fill in the defaults that depend on other arguments or on the data, and refuse flags that do not go
    together; `resumed` is the `checkpoint.Classifier` of --resume (None without it).

    Raises ValueError with a command-line message.
    """
    if hasattr(args, "lr_decay") and args.schedule is not None:
        raise ValueError("--lr-decay and --schedule cannot be combined: the schedule sets the learning rate of "
                         "every epoch; drop --lr-decay")
    if args.schedule is not None:
        schedule_from_spec(args.schedule, args.epochs)
    args.lr_decay = getattr(args, "lr_decay", 1.0 if args.schedule is not None else LEARNING_RATE_DECAY)
    args.weight_decay = getattr(args, "weight_decay", ADAMW_WEIGHT_DECAY if args.optim == "adamw" else 0.0)
    _resolve_architecture(args, None if resumed is None else model_arguments(resumed.model))
    if resumed is not None:
        dtype = np.dtype(resumed.model.dtype).name
        if getattr(args, "dtype", dtype) != dtype:
            raise ValueError(f"--resume {args.resume} holds a {dtype} model; drop --dtype {args.dtype}, or give "
                             f"--dtype {dtype}")
        args.dtype = dtype
    args.dtype = getattr(args, "dtype", "float32")
    for name, standin_size in (("max_train", STANDIN_MAX_TRAIN), ("max_test", STANDIN_MAX_TEST)):
        setattr(args, name, getattr(args, name, standin_size if is_standin else None))


def _given_flags(parser, argv):
    """The names (dests) of the options given on the command line `argv`, not filled in by default."""
    unset = object()
    namespace = argparse.Namespace(**{name: unset for name in vars(parser.parse_args([]))})
    parser.parse_args(argv, namespace)
    return {name for name, value in vars(namespace).items() if value is not unset}


def _resume_run(args, given):
    """(Classifier, training state or None, lines to print) of --resume; the run's settings are put into `args`
    unless `given` (the flags given) names them."""
    resumed = _resume(args.resume)
    state = load_training_state(args.resume)  # readable: _resume read the same file
    if state is None:
        return resumed, None, [f"resumed from {args.resume}, which holds no training state (saved without one, or "
                               f"before checkpoints kept it): the optimizer state starts from zero, the epoch count "
                               f"from 0, and the settings come from the command line"]
    settings = state.pop("settings", None)
    notes = [] if settings is not None else [f"note: {args.resume} holds no train.py settings: they come from the "
                                             f"command line"]
    notes += _take_settings(args, given, settings or {})
    if "optim" in given and "optimizers" in state and args.optim != (settings or {}).get("optim", args.optim):
        del state["optimizers"]
        notes.append(f"the optimizer state starts from zero: --optim {args.optim} cannot use the state of another")
    if "lr" in given:
        state["learning_rate"] = args.lr
    resumed.model.reg = args.reg
    return resumed, state, [f"resumed from {args.resume} at epoch {state['epoch']}", *notes]


def _take_settings(args, given, settings):
    """Set in `args` each of the run's `settings` not given on the command line; one line per one overridden."""
    overridden = []
    for name, value in settings.items():
        if name not in RESUMED_SETTINGS:
            continue
        if name in given:
            if getattr(args, name) != value:
                overridden.append(f"{_flag(name)} {_text(getattr(args, name))} overrides the run's "
                                  f"{_text(value) if value is not None else 'none'}")
        elif not ((name == "lr_decay" and ("schedule" in given or settings.get("schedule") is not None))
                  or (name == "weight_decay" and "optim" in given)):  # those follow the given flag's default
            setattr(args, name, value)
    return overridden


def _check_epochs_left(args, state):
    """Refuse a --resume whose run has already trained its --epochs."""
    if state is not None and state["epoch"] >= args.epochs:
        raise ValueError(f"--resume {args.resume} has trained {state['epoch']} epochs, as many as --epochs "
                         f"{args.epochs}: give --epochs above {state['epoch']} (the epochs of the whole run) to train "
                         f"further")


def _resolve_architecture(args, built):
    """Set args.arch and every setting of ARCH_SETTINGS: given, from the checkpoint (`built`, the
    model_arguments of the --resume model) or by default; None for the settings the architecture does not read."""
    given = [name for name in ("arch", *ARCH_SETTINGS) if hasattr(args, name)]
    arch = built["arch"] if built else getattr(args, "arch", ARCH)
    defaults = {"arch": arch, "conv1": CONV1_CHANNELS, "conv2": CONV2_CHANNELS, "widths": WIDTHS,
                "dropout": DROPOUT, "activation": ACTIVATION, **(built or {})}
    for name in given:
        if name != "arch" and arch not in ARCH_SETTINGS[name]:
            raise ValueError(f"{_flag(name)} applies to --arch {' or '.join(ARCH_SETTINGS[name])} only, not to "
                             f"--arch {arch}" + (f" (the architecture of --resume {args.resume})" if built else ""))
        if built and getattr(args, name) != built[name]:
            raise ValueError(f"--resume {args.resume} holds a {arch} model with {_flags(built)}; "
                             f"{_flag(name)} {_text(getattr(args, name))} asks for another (drop the architecture "
                             f"flags: they come from the checkpoint)")
    for name in ("arch", *ARCH_SETTINGS):
        applies = name == "arch" or arch in ARCH_SETTINGS[name]
        setattr(args, name, getattr(args, name, defaults[name]) if applies else None)


def _resume(path):
    """The Classifier of the checkpoint `path`, checked to fit SVHN's images and digits (ValueError if not)."""
    try:
        preprocessing = read_preprocessing(path)
    except OSError as error:
        raise ValueError(f"--resume {path}: {error.strerror or error}") from None
    except ValueError as error:  # the message starts with the path
        raise ValueError(f"--resume {error}") from None
    if preprocessing is None:
        raise ValueError(f"--resume {path} holds no preprocessing (scale and mean image) to prepare the data as the "
                         f"model was trained: give the model.npz of a train.py run")
    try:
        resumed = load_classifier(path)
    except ValueError as error:
        raise ValueError(f"--resume {error}") from None
    model = resumed.model
    if tuple(model.input_shape) != IMAGE_SHAPE:
        raise ValueError(f"--resume {path} holds a model of {tuple(model.input_shape)} images; SVHN's are "
                         f"{IMAGE_SHAPE}")
    n_classes = model.n_output_classes if isinstance(model, ConvNet) else model.output_shape(IMAGE_SHAPE)[0]
    if n_classes != N_CLASSES:
        raise ValueError(f"--resume {path} holds a model of {n_classes} classes; SVHN has {N_CLASSES} digits")
    if model_arguments(model) is None:
        raise ValueError(f"--resume {path} holds a {type(model).__name__} that no --arch builds; train.py "
                         f"continues only its own architectures ({', '.join(ARCHS)})")
    return resumed


def _flag(name):
    return "--" + name.replace("_", "-")


def _text(value):
    """A value as it is written on the command line: 32,64,128 for a tuple."""
    return ",".join(map(str, value)) if isinstance(value, (tuple, list)) else f"{value:g}" if isinstance(
        value, float) else str(value)


def _flags(arguments):
    """'--widths 8,16 --dropout 0' from model_arguments' dict."""
    return " ".join(f"{_flag(name)} {_text(value)}" for name, value in arguments.items() if name != "arch")


def _load(args, resumed=None):
    """Load, split and preprocess the data: ((train_X, train_y, val_X, val_y, test_X, test_y), preprocessing).

    The preprocessing is the Classifier's of --resume (`resumed`), else the one computed from the training images.
    """
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
    if resumed is None:
        train_X, val_X, test_X, mean_image = prepare_for_neural_network(train_X, val_X, test_X, dtype=args.dtype)
        preprocessing = {"scale": PIXEL_SCALE, "mean_image": mean_image}
    else:
        train_X, val_X, test_X = (resumed.preprocess(X) for X in (train_X, val_X, test_X))
        preprocessing = resumed.preprocessing
    return (train_X, train_y, val_X, val_y, test_X, test_y), preprocessing


def _is_standin(folder):
    """Whether either SVHN file in `folder` carries the marker variable that standin.py writes.

    Files that cannot be read count as not marked (a stand-in cut short after its marker still counts): loading
    them says what is wrong.
    """
    return any(has_standin_marker(os.path.join(folder, file)) for file in (TRAIN_FILE, TEST_FILE))


def _metrics(args, model, trainer, predictions, test_y, is_standin, run_seconds):
    """The contents of metrics.json; per-class accuracy is the recall of each digit (None when absent); "model"
    holds the architecture as `model_arguments` gives it, "arguments" every argument with its defaults filled in."""
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
        "model": {**model_arguments(model), "class": type(model).__name__,
                  "input_shape": list(model.input_shape), "n_classes": N_CLASSES,
                  "dtype": np.dtype(model.dtype).name, "resumed_from": args.resume},
        "arguments": vars(args),
        "versions": {"python": platform.python_version(), "numpy": np.__version__, "scipy": scipy.__version__,
                     "matplotlib": matplotlib.__version__},
    }


def _write_outputs(out, trainer, model, metrics, test_X, test_y, predictions, preprocessing, settings):
    """Write every file of OUTPUT_FILES into the folder `out`; both checkpoints get the preprocessing, model.npz the
    training state and the run's `settings` too (what --resume continues from)."""
    # A checkpoint's mean (of --resume) may be per channel, or absent; the figure takes a whole image.
    mean_image = np.broadcast_to(preprocessing.get("mean_image", 0.0), test_X.shape[1:]).astype(test_X.dtype)
    # restore_best put the best epoch's parameters back, so both files hold the model evaluated here.
    state = {"model.npz": {**trainer.state_dict(), "settings": settings}, "model.best.npz": None}
    for name in ("model.npz", "model.best.npz"):  # replacing those Trainer wrote into this run's staging folder
        save_model(model, os.path.join(out, name), preprocessing=preprocessing, training_state=state[name],
                   overwrite=True)
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


def _for_command_line(message, args):
    """Rephrase a library error that speaks of the Python API (arguments, None) in terms of the command line."""
    message = one_line(message)
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
                       ("num_val", "--val"), ("schedule", "--schedule")):
        message = message.replace(f"`{name}`", flag)
    return message


def _what_diverged(error):
    """What a TrainingDivergedError found, without the name of the Trainer keyword (train.py has no flag for it)."""
    return one_line(error.reason).replace("divergence_threshold ", "")


def _fail(parser, code, message):
    """Say `message` as the last line on stderr and return the exit `code`."""
    say(parser.prog, message)
    return code



def _duration(seconds):
    """'9.1 s', '42 s', '2 min 05 s' or '1 h 02 min'."""
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes, seconds = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    return f"{minutes // 60} h {minutes % 60:02d} min"


def _count(text):
    """argparse type: 'all' (None) or an integer >= 1."""
    return None if text == "all" else parse_argument(text, int, "a positive integer or 'all'", lambda value: value >= 1)



def _positive_float(text):
    return parse_argument(text, float, "a finite number > 0", lambda value: 0 < value < np.inf)


def _non_negative_float(text):
    return parse_argument(text, float, "a finite number >= 0", lambda value: 0 <= value < np.inf)


def _widths(text):
    return parse_argument(text, lambda text: tuple(int(width) for width in text.split(",")),
                          "comma-separated positive integers such as 32,64,128",
                          lambda widths: all(width >= 1 for width in widths))


def _augment(text):
    """argparse type: an augmentation spec that augment.from_spec reads, kept as text."""
    try:
        augment_from_spec(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(one_line(error).replace("`augment` ", "")) from None
    return text


def _flips(spec):
    """Whether the --augment `spec` (None: no augmentation) flips some images."""
    transforms = [] if spec is None else augment_from_spec(spec).transforms
    return any(isinstance(transform, (RandomHorizontalFlip, RandomVerticalFlip)) and transform.p > 0
               for transform in transforms)


def _folder(text):
    """argparse type: a folder path; an empty one would be the current folder, which is never meant."""
    return parse_argument(text, str, "a folder path, not empty", lambda path: path.strip() != "")


def _decay(text):
    return parse_argument(text, float, "a number in (0, 1]", lambda value: 0 < value <= 1)


def _fraction(text):
    return parse_argument(text, float, "a number in [0, 1)", lambda value: 0 <= value < 1)


if __name__ == "__main__":
    sys.exit(main())

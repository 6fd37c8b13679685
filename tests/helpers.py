"""What the command-line tests (train.py, predict.py) share: running a `main` in-process, the stand-in's raw test
images, and a tiny random Dataset."""
import warnings

import numpy as np

from dataset import StandInDataWarning, load_svhn
from trainer import Dataset


def run_cli(main, argv, capsys):
    """main(argv) in-process, e.g. `run_cli(train.main, argv, capsys)`: (exit code, stdout, stderr)."""
    try:
        code = main(argv)
    except SystemExit as exit_:
        code = exit_.code
    out, err = capsys.readouterr()
    return code, out, err


def raw_test_images(folder, max_test):
    """The test images a run on `folder` with `--max-test max_test` evaluates on, before preprocessing: images of
    shape (max_test, 32, 32, 3), float32 in [0, 255], and labels of shape (max_test,)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StandInDataWarning)
        _, _, test_X, test_y = load_svhn(folder, 1, max_test)
    return test_X, test_y


def tiny_dataset(n_train, n_val, seed=0):
    """A Dataset of standard-normal float32 images of shape (n, 16, 16, 3) and random labels 0..9 of shape (n,)."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n_train + n_val, 16, 16, 3)).astype(np.float32)
    y = rng.integers(0, 10, n_train + n_val)
    return Dataset(X[:n_train], y[:n_train], X[n_train:], y[n_train:])

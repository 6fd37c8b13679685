"""Tests of checks_dataset.py: every check passes on our dataset.py, fails with the right message and hint on a copy
of it with one known bug, finds the bugs of hand-written learner loaders, and reports `not implemented` on the
template's stubs."""
import ast
from types import SimpleNamespace

import numpy as np
import pytest
import scipy.io
from check_harness import check_runner, global_rng_kept, module_tests
from mutants import appended, chained, expression, is_call, replaced, rewritten

import dataset
from selfcheck.base import CheckFailed
from selfcheck.checks import dataset as checks_dataset

run_check = check_runner(dataset=dataset)

TEMPLATE = {
    "dataset.py": """
        def load_data_mat(filename, max_samples, seed=42):
            raise Exception("Not implemented!")

        def load_svhn(folder, max_train, max_test):
            raise Exception("Not implemented!")

        def random_split_train_val(X, y, num_val, seed=42):
            raise Exception("Not implemented!")
        """,
}


# (file, our code, the bug put in its place, module, {check id: (status, hint key, message pattern)}); every
# other check of the module must still pass.
# The learner's bug of reseeding numpy's global generator: `check_rng(seed)` calls become `_reseeded(seed)`.
RESEEDED = appended("""
    def _reseeded(seed):
        np.random.seed(seed)
        return np.random
    """)


def reseeded_in(function):
    return chained(rewritten(function, replaced(lambda node: is_call(node, "check_rng"),
                                                lambda node: expression(f"_reseeded({ast.unparse(node.args[0])})"))),
                   RESEEDED)



MUTANTS = [
    pytest.param("dataset.py", reseeded_in("load_data_mat"), "dataset",
                 {"load_data_mat.call.global_rng": ("fail", "global_rng_reseeded", r"np\.random\.seed\(5\)")},
                 id="load_data_mat_reseeds"),
    pytest.param("dataset.py", reseeded_in("random_split_train_val"), "dataset",
                 {"random_split_train_val.call.global_rng": ("fail", "global_rng_reseeded", r"reseeds")},
                 id="random_split_reseeds"),
    pytest.param("dataset.py", rewritten(None, replaced(  # labels % 10 -> labels
        lambda node: isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod) and
        ast.unparse(node.right) == "10", lambda node: node.left)), "dataset",
                 {"load_data_mat.call.labels": ("fail", None, "label 10 came back as 10")}, id="label_10_kept"),
    pytest.param("dataset.py", rewritten(None, replaced(
        lambda node: is_call(node, "moveaxis"), lambda node: expression(f"{ast.unparse(node)}.transpose(0, 2, 1, 3)"))),
                 "dataset",
                 {"load_data_mat.call.images": ("fail", "rows_columns_swapped", "none of the images of the file"),
                  "load_svhn.call.files": ("fail", "rows_columns_swapped", "train_32x32.mat")},
                 id="images_transposed"),
    pytest.param("dataset.py", rewritten(None, replaced(
        lambda node: isinstance(node, ast.keyword) and node.arg == "replace",
        lambda node: ast.keyword("replace", ast.Constant(True)))), "dataset",
                 {"load_data_mat.call.distinct_samples": ("fail", None, "without replacement")},
                 id="drawn_with_replacement"),
]


(test_every_module_of_ours_has_checks, test_check_passes_on_our_modules_and_keeps_the_global_rng,
 test_mutant_fails_the_right_check_with_its_hint, test_template_stubs_are_not_implemented) = module_tests(
    "dataset", checks_dataset, run_check, MUTANTS, TEMPLATE)


def unseeded_load_data_mat(filename, max_samples, seed=42):
    """Draws its subset from the global RNG without seeding it."""
    raw = scipy.io.loadmat(filename)
    X, y = np.moveaxis(raw["X"], 3, 0), raw["y"].reshape(-1) % 10
    samples = np.random.choice(X.shape[0], max_samples, replace=False)
    return X[samples].astype(np.float32), y[samples]


def reshaped_load_data_mat(filename, max_samples, seed=42):
    """Reshapes SVHN's (32, 32, 3, n) into (n, 32, 32, 3) instead of moving the axis: images mixed up."""
    raw = scipy.io.loadmat(filename)
    X = raw["X"].reshape(-1, 32, 32, 3).astype(np.float32)
    samples = np.random.default_rng(seed).choice(X.shape[0], max_samples, replace=False)
    return X[samples], (raw["y"].reshape(-1) % 10)[samples]


def swapped_load_svhn(folder, max_train, max_test):
    test_X, test_y, train_X, train_y = dataset.load_svhn(folder, max_test, max_train)
    return train_X[:max_train], train_y[:max_train], test_X[:max_test], test_y[:max_test]


def unpaired_split(X, y, num_val, seed=42):
    """Shuffles X and y with different orders."""
    rng = np.random.default_rng(seed)
    X, y = X[rng.permutation(len(X))], y[rng.permutation(len(y))]
    return X[num_val:], y[num_val:], X[:num_val], y[:num_val]


@pytest.mark.parametrize("check_id, module, message, hint", [
    pytest.param("load_data_mat.call.global_rng", SimpleNamespace(load_data_mat=unseeded_load_data_mat),
                 r"changed numpy's global random state \(it draws from np.random\)", None, id="unseeded_global_rng"),
    pytest.param("load_data_mat.call.seed_reproducible", SimpleNamespace(load_data_mat=unseeded_load_data_mat),
                 r"two calls with seed=7 returned different samples", None, id="unseeded_reproducible"),
    pytest.param("load_data_mat.call.images", SimpleNamespace(load_data_mat=reshaped_load_data_mat),
                 r"returned image 0 is none of the images of the file: .*np.moveaxis\(X, 3, 0\)", None,
                 id="reshaped_images"),
    pytest.param("load_data_mat.call.shapes", SimpleNamespace(load_data_mat=lambda f, n, seed=42: (
                 np.zeros((32, 32, 3, n)), np.zeros(n, int))),
                 r"X of load_data_mat\(a file of 12 images, 5\): expected an array of numbers of shape "
                 r"\(5, 32, 32, 3\), got float64 \(32, 32, 3, 5\)", None, id="svhn_layout_kept"),
    pytest.param("load_svhn.call.files", SimpleNamespace(load_svhn=swapped_load_svhn),
                 r"returned image 0 is none of the images of train_32x32.mat", None, id="files_swapped"),
    pytest.param("random_split_train_val.call.partition", SimpleNamespace(random_split_train_val=unpaired_split),
                 r"train_X\[i\] must be the sample whose label is train_y\[i\]", None, id="split_unpaired"),
])
def test_dataset_failures(check_id, module, message, hint):
    with global_rng_kept(), pytest.raises(CheckFailed, match=message) as failure:
        run_check(check_id, dataset=module)
    assert failure.value.hint == hint


def test_labels_of_mixed_up_images_are_compared_as_a_whole():
    assert run_check("load_data_mat.call.labels",
                     dataset=SimpleNamespace(load_data_mat=reshaped_load_data_mat)) is None

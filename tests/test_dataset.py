"""dataset.py on small SVHN-format .mat files written into a temporary folder."""
import re
import warnings

import numpy as np
import pytest
import scipy.io

from dataset import StandInDataWarning, describe_data, load_data_mat, load_svhn, random_split_train_val


def make_svhn(n=60, seed=0):
    """Random SVHN-format arrays: X uint8 (32, 32, 3, n) with the sample index in pixel (0, 0, 0), y (n, 1)."""
    rng = np.random.default_rng(seed)
    X = rng.integers(0, 256, size=(32, 32, 3, n), dtype=np.uint8)
    X[0, 0, 0] = np.arange(n)
    y = (np.arange(n) % 10 + 1).astype(np.uint8)[:, None]
    return X, y


def write_mat(path, **variables):
    """Write `variables` (by default a valid SVHN-format file of 60 images) to `path`; return the path."""
    if not variables:
        X, y = make_svhn()
        variables = {"X": X, "y": y}
    scipy.io.savemat(path, variables)
    return path


def source_index(images):
    """The file index of each loaded image, read back from pixel (0, 0, 0)."""
    return images[:, 0, 0, 0].astype(int)


@pytest.fixture
def mat_file(tmp_path):
    return write_mat(tmp_path / "train_32x32.mat")


@pytest.fixture
def svhn_folder(tmp_path):
    X, y = make_svhn(60, seed=0)
    write_mat(tmp_path / "train_32x32.mat", X=X, y=y)
    X, y = make_svhn(40, seed=1)
    write_mat(tmp_path / "test_32x32.mat", X=X, y=y)
    return tmp_path


def test_shapes_dtypes_and_layout(mat_file):
    X_file, y_file = make_svhn()
    X, y = load_data_mat(mat_file, 25)
    assert X.shape == (25, 32, 32, 3) and X.dtype == np.float32 and X.flags.c_contiguous
    assert y.shape == (25,) and y.dtype == np.int64
    index = source_index(X)
    # (32, 32, 3, n) -> (n, 32, 32, 3): every image arrives whole, pixel values kept in 0..255
    np.testing.assert_array_equal(X, np.moveaxis(X_file, -1, 0)[index].astype(np.float32))
    np.testing.assert_array_equal(y, y_file[index, 0] % 10)


def test_label_10_is_digit_0(mat_file):
    _, y_file = make_svhn()
    X, y = load_data_mat(mat_file, None)
    file_labels = y_file[source_index(X), 0]
    np.testing.assert_array_equal(y[file_labels == 10], 0)
    np.testing.assert_array_equal(y[file_labels != 10], file_labels[file_labels != 10])


def test_subset_without_replacement(mat_file):
    X, _ = load_data_mat(mat_file, 59)
    assert len(set(source_index(X))) == 59


def test_none_takes_every_image(mat_file):
    X, y = load_data_mat(mat_file, None)
    assert sorted(source_index(X)) == list(range(60)) and y.shape == (60,)


def test_reproducible_by_seed(mat_file):
    first, second = load_data_mat(mat_file, 20, seed=3), load_data_mat(mat_file, 20, seed=3)
    np.testing.assert_array_equal(first[0], second[0])
    np.testing.assert_array_equal(first[1], second[1])
    assert not np.array_equal(source_index(first[0]), source_index(load_data_mat(mat_file, 20, seed=4)[0]))


def test_accepts_a_generator(mat_file):
    X, _ = load_data_mat(mat_file, 20, seed=np.random.default_rng(5))
    np.testing.assert_array_equal(X, load_data_mat(mat_file, 20, seed=np.random.default_rng(5))[0])


def test_global_rng_untouched(svhn_folder):
    before = np.random.get_state()
    load_data_mat(svhn_folder / "train_32x32.mat", 10)
    load_svhn(svhn_folder, 10, 5)
    random_split_train_val(np.arange(20), np.arange(20), 5)
    after = np.random.get_state()
    assert before[0] == after[0] and np.array_equal(before[1], after[1]) and before[2:] == after[2:]


@pytest.mark.parametrize("max_samples, error, match", [
    (61, ValueError, r"`max_samples` must be at most the number of images in .*\(60\), got 61"),
    (0, ValueError, r"`max_samples` must be a positive integer, got 0"),
    (-5, ValueError, r"`max_samples` must be a positive integer, got -5"),
    (2.5, TypeError, r"`max_samples` must be an integer"),
    (True, TypeError, r"`max_samples` must be an integer"),
])
def test_bad_max_samples(mat_file, max_samples, error, match):
    with pytest.raises(error, match=match):
        load_data_mat(mat_file, max_samples)


def test_missing_file_says_how_to_get_the_data(tmp_path):
    path = tmp_path / "nowhere" / "train_32x32.mat"
    with pytest.raises(FileNotFoundError, match=r"(?s)nowhere/train_32x32\.mat.*download_data\.sh.*standin\.py"):
        load_data_mat(path, 10)


def test_load_svhn_looks_for_both_files_first(tmp_path):
    write_mat(tmp_path / "train_32x32.mat")
    with pytest.raises(FileNotFoundError, match=r"test_32x32\.mat"):
        load_svhn(tmp_path, 10, 10)


@pytest.mark.parametrize("variables, match", [
    ({"y": make_svhn()[1]}, r"missing X; found \['y'\]"),
    ({"X": make_svhn()[0]}, r"missing y; found \['X'\]"),
    ({"images": make_svhn()[0]}, r"missing X, y; found \['images'\]"),
    ({"X": make_svhn()[0][:, :, 0], "y": make_svhn()[1]},
     r"`X` .* must be uint8 of shape \(32, 32, 3, n\), got uint8 \(32, 32, 60\)"),
    ({"X": make_svhn()[0][:28, :28], "y": make_svhn()[1]}, r"got uint8 \(28, 28, 3, 60\)"),
    ({"X": make_svhn()[0].astype(np.float64), "y": make_svhn()[1]}, r"got float64 \(32, 32, 3, 60\)"),
    ({"X": make_svhn()[0], "y": make_svhn()[1][:50]}, r"`y` .* must have shape \(60, 1\).* got \(50, 1\)"),
    ({"X": make_svhn()[0], "y": np.zeros((60, 2), np.uint8)}, r"must have shape \(60, 1\).* got \(60, 2\)"),
])
def test_wrong_contents(tmp_path, variables, match):
    with pytest.raises(ValueError, match=match):
        load_data_mat(write_mat(tmp_path / "bad.mat", **variables), 10)


@pytest.mark.parametrize("bad_label", [0, 11, 255, 2.5])
def test_labels_outside_1_to_10(tmp_path, bad_label):
    X, y = make_svhn()
    y = y.astype(np.float64)
    y[7] = bad_label
    with pytest.raises(ValueError, match=rf"must hold labels 1\.\.10 .*got {bad_label:g} in 1 of 60"):
        load_data_mat(write_mat(tmp_path / "bad.mat", X=X, y=y), 10)


def test_labels_stored_as_doubles(tmp_path):
    X, y = make_svhn()
    _, labels = load_data_mat(write_mat(tmp_path / "double.mat", X=X, y=y.astype(np.float64)), None)
    assert labels.dtype == np.int64 and sorted(set(labels.tolist())) == list(range(10))


def valid_mat_bytes(tmp_path, compressed=False):
    """The bytes of a valid SVHN-format file of 60 images, written by scipy.io.savemat."""
    X, y = make_svhn()
    scipy.io.savemat(tmp_path / "valid.mat", {"X": X, "y": y}, do_compression=compressed)
    return (tmp_path / "valid.mat").read_bytes()


BROKEN_FILES = {
    "empty": lambda full: b"",
    "1-byte": lambda full: full[:1],
    "100-byte": lambda full: full[:100],
    "header-only": lambda full: full[:128],  # a valid header and no variables
    "cut-in-header": lambda full: full[:127],
    "cut-in-X": lambda full: full[:len(full) // 2],
    "cut-in-y": lambda full: full[:-20],
    "zeros": lambda full: bytes(100),
    "html": lambda full: b"<html>404 Not Found</html>" * 10,
}


@pytest.mark.parametrize("compressed", [False, True], ids=["plain", "compressed"])
@pytest.mark.parametrize("kind", sorted(BROKEN_FILES))
def test_broken_file_is_a_value_error_naming_it(tmp_path, kind, compressed):
    """Truncated, empty or foreign files: a one-line ValueError naming the file, what is wrong and the fix."""
    path = tmp_path / "train_32x32.mat"
    path.write_bytes(BROKEN_FILES[kind](valid_mat_bytes(tmp_path, compressed)))
    with pytest.raises(ValueError, match=rf"{re.escape(str(path))} .*truncated or not a MATLAB \.mat file.*"
                                         rf"re-download it \(`\./download_data\.sh {re.escape(str(tmp_path))}`\)"
                       ) as error:
        load_data_mat(path, 10)
    assert "\n" not in str(error.value)


def test_broken_file_through_load_svhn(svhn_folder):
    path = svhn_folder / "test_32x32.mat"
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(ValueError, match=r"test_32x32\.mat \(1000 bytes\) is truncated or not a MATLAB"):
        load_svhn(svhn_folder, 10, 10)


def test_a_file_cut_exactly_after_X_says_y_is_missing_and_how_to_fix_it(tmp_path):
    X, _ = make_svhn()
    with pytest.raises(ValueError, match=r"missing y; found \['X'\].*re-download it"):
        load_data_mat(write_mat(tmp_path / "train_32x32.mat", X=X), 10)


def test_directory_where_the_file_should_be(tmp_path):
    (tmp_path / "train_32x32.mat").mkdir()
    write_mat(tmp_path / "test_32x32.mat")
    for load in (lambda: load_data_mat(tmp_path / "train_32x32.mat", 10), lambda: load_svhn(tmp_path, 10, 10)):
        with pytest.raises(IsADirectoryError, match=r"train_32x32\.mat is a directory, not an SVHN \.mat file"):
            load()


def test_file_where_the_folder_should_be(tmp_path):
    write_mat(tmp_path / "data")
    with pytest.raises(NotADirectoryError, match=r"`folder` must be a folder holding train_32x32\.mat and "
                                                 r"test_32x32\.mat, got the file .*data"):
        load_svhn(tmp_path / "data", 10, 10)


@pytest.mark.parametrize("call, match", [
    (lambda: load_data_mat(3, 10), r"`filename` must be a str or os\.PathLike, got int"),
    (lambda: load_data_mat(None, 10), r"`filename` must be a str or os\.PathLike, got NoneType"),
    (lambda: load_svhn(["data"], 10, 10), r"`folder` must be a str or os\.PathLike, got list"),
])
def test_paths_of_the_wrong_type(call, match):
    with pytest.raises(TypeError, match=match):
        call()


def test_load_svhn(svhn_folder):
    train_X, train_y, test_X, test_y = load_svhn(svhn_folder, 30, 15)
    assert train_X.shape == (30, 32, 32, 3) and test_X.shape == (15, 32, 32, 3)
    assert train_y.shape == (30,) and test_y.shape == (15,)
    assert train_X.dtype == test_X.dtype == np.float32 and train_y.dtype == test_y.dtype == np.int64
    # the test subset is what load_data_mat draws with the same seed, whatever max_train is
    np.testing.assert_array_equal(test_X, load_svhn(svhn_folder, 5, 15)[2])
    np.testing.assert_array_equal(test_X, load_data_mat(svhn_folder / "test_32x32.mat", 15)[0])


@pytest.mark.parametrize("max_train, max_test, match", [
    (0, 10, "`max_train` must be a positive integer"),
    (10, 41, r"`max_test` must be at most the number of images in .*test_32x32\.mat \(40\), got 41"),
])
def test_load_svhn_bad_sizes(svhn_folder, max_train, max_test, match):
    with pytest.raises(ValueError, match=match):
        load_svhn(svhn_folder, max_train, max_test)


def test_stand_in_warns_once_per_file(tmp_path):
    X, y = make_svhn()
    path = write_mat(tmp_path / "train_32x32.mat", X=X, y=y, standin="synthetic stand-in for SVHN, not real data")
    with pytest.warns(StandInDataWarning, match=r"train_32x32\.mat is the synthetic stand-in .*NOT SVHN results"):
        load_data_mat(path, 10)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_data_mat(path, 10)
        load_data_mat(str(path), 5, seed=1)


def test_real_files_do_not_warn(svhn_folder):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_svhn(svhn_folder, 10, 10)


def test_stand_in_warning_points_at_the_caller(tmp_path):
    X, y = make_svhn()
    write_mat(tmp_path / "train_32x32.mat", X=X, y=y, standin="synthetic")
    write_mat(tmp_path / "test_32x32.mat", X=X, y=y, standin="synthetic")
    with pytest.warns(StandInDataWarning) as record:
        load_svhn(tmp_path, 10, 10)
    assert len(record) == 1 and record[0].filename == __file__     # one warning for the folder, not one per file
    assert re.search(rf"{re.escape(str(tmp_path))}/ holds the synthetic stand-in .* \(train_32x32\.mat, "
                     rf"test_32x32\.mat\).*NOT SVHN results", str(record[0].message))


def test_describe_data_says_in_one_line_what_a_folder_holds(tmp_path, svhn_folder):
    X, y = make_svhn()
    standin = tmp_path / "standin"
    standin.mkdir()
    write_mat(standin / "train_32x32.mat", X=X, y=y, standin="synthetic")
    assert describe_data(standin) == (f"{standin}/ holds the synthetic stand-in made by standin.py, NOT SVHN: "
                                       "every accuracy measured on it is a stand-in figure, not an SVHN result.")
    assert describe_data(svhn_folder) == f"{svhn_folder}/ holds SVHN (no stand-in marker)."
    assert describe_data(tmp_path / "nothing") == (f"{tmp_path / 'nothing'}/ holds no {'train_32x32.mat'}: run "
                                                   "`make data` (SVHN, or the offline stand-in without network).")


def split_data(n=50, dtype=np.float32):
    """X rows (n, 2, 3) holding their own index, y the same index: checks that pairs stay together."""
    X = np.broadcast_to(np.arange(n).reshape(n, 1, 1), (n, 2, 3)).astype(dtype)
    return X, np.arange(n, dtype=np.int64)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.uint8])
@pytest.mark.parametrize("num_val", [1, 10, 49])
def test_split_sizes_disjoint_complete(dtype, num_val):
    X, y = split_data(dtype=dtype)
    train_X, train_y, val_X, val_y = random_split_train_val(X, y, num_val)
    assert train_X.shape == (50 - num_val, 2, 3) and val_X.shape == (num_val, 2, 3)
    assert train_X.dtype == val_X.dtype == dtype and train_y.dtype == val_y.dtype == np.int64
    assert sorted(np.concatenate([train_y, val_y]).tolist()) == list(range(50))
    np.testing.assert_array_equal(train_X[:, 0, 0], train_y)
    np.testing.assert_array_equal(val_X[:, 0, 0], val_y)


def test_split_reproducible_by_seed():
    X, y = split_data()
    first, second = random_split_train_val(X, y, 10, seed=1), random_split_train_val(X, y, 10, seed=1)
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first[3], random_split_train_val(X, y, 10, seed=2)[3])


@pytest.mark.parametrize("X, y, num_val, error, match", [
    (np.zeros((5, 2)), np.zeros(4), 1, ValueError, "same number of samples, got 5 and 4"),
    (np.zeros((5, 2)), np.zeros(5), 0, ValueError, "`num_val` must be a positive integer, got 0"),
    (np.zeros((5, 2)), np.zeros(5), 5, ValueError, r"`num_val` must be smaller than the number of samples \(5\)"),
    (np.zeros((5, 2)), np.zeros(5), 9, ValueError, r"smaller than the number of samples \(5\).*got 9"),
    (np.zeros((5, 2)), np.zeros(5), 1.0, TypeError, "`num_val` must be an integer"),
    (np.float32(1), np.zeros(5), 1, ValueError, "must be arrays of samples"),
])
def test_split_errors(X, y, num_val, error, match):
    with pytest.raises(error, match=match):
        random_split_train_val(X, y, num_val)

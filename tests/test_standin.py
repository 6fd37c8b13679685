"""standin.py: the synthetic SVHN stand-in's format, labels, determinism and command line."""
import os

import numpy as np
import pytest
import scipy.io

import standin
from dataset import StandInDataWarning, load_svhn


@pytest.fixture(scope="module")
def standin_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("standin")
    standin.make_standin(folder, n_train=300, n_test=100, seed=1)
    return folder


def read(folder, name):
    contents = scipy.io.loadmat(os.path.join(folder, name))
    return {key: value for key, value in contents.items() if not key.startswith("__")}


@pytest.mark.parametrize("name, n", [("train_32x32.mat", 300), ("test_32x32.mat", 100)])
def test_svhn_format(standin_folder, name, n):
    contents = read(standin_folder, name)
    assert sorted(contents) == ["X", "standin", "y"]
    X, y = contents["X"], contents["y"]
    assert X.dtype == np.uint8 and X.shape == (32, 32, 3, n)
    assert y.dtype == np.uint8 and y.shape == (n, 1)
    assert "synthetic stand-in for SVHN, not real data" in str(contents["standin"][0])


@pytest.mark.parametrize("n", [1, 9, 100, 305])
def test_labels_1_to_10_and_balanced(n):
    _, y = standin.synthesize(n, seed=0)
    counts = np.bincount(y[:, 0], minlength=11)
    assert counts[0] == 0 and y.min() >= 1 and y.max() <= 10
    assert set(counts[1:].tolist()) <= {n // 10, n // 10 + 1} and counts.sum() == n


def test_only_the_two_files_are_left(standin_folder):
    assert sorted(os.listdir(standin_folder)) == ["test_32x32.mat", "train_32x32.mat"]


def test_images_have_contrast():
    X, _ = standin.synthesize(200, seed=0)
    # (32, 32, 3, n): spread of each image's pixels
    spread = X.reshape(-1, 200).astype(float).std(axis=0)
    assert spread.min() > 10


def test_same_seed_same_bytes():
    first, second = standin.synthesize(50, seed=7), standin.synthesize(50, seed=7)
    assert first[0].tobytes() == second[0].tobytes() and first[1].tobytes() == second[1].tobytes()
    assert first[0].tobytes() != standin.synthesize(50, seed=8)[0].tobytes()


def test_files_deterministic_and_test_set_independent_of_train_size(standin_folder, tmp_path):
    standin.make_standin(tmp_path, n_train=20, n_test=100, seed=1)
    for key in ("X", "y"):
        np.testing.assert_array_equal(read(tmp_path, "test_32x32.mat")[key],
                                      read(standin_folder, "test_32x32.mat")[key])
    standin.make_standin(tmp_path, n_train=300, n_test=100, seed=1)
    np.testing.assert_array_equal(read(tmp_path, "train_32x32.mat")["X"],
                                  read(standin_folder, "train_32x32.mat")["X"])


def test_load_svhn_reads_it_and_warns(standin_folder):
    with pytest.warns(StandInDataWarning, match="NOT SVHN results"):
        train_X, train_y, test_X, test_y = load_svhn(standin_folder, 200, None)
    assert train_X.shape == (200, 32, 32, 3) and test_X.shape == (100, 32, 32, 3)
    assert train_X.dtype == np.float32 and 0 <= train_X.min() and train_X.max() <= 255
    assert set(np.unique(test_y).tolist()) == set(range(10))


@pytest.mark.parametrize("kwargs, error, match", [
    ({"n_train": 0}, ValueError, "`n_train` must be a positive integer, got 0"),
    ({"n_test": -1}, ValueError, "`n_test` must be a positive integer, got -1"),
    ({"seed": -1}, ValueError, "`seed` must be an integer >= 0, got -1"),
    ({"n_train": 1.5}, TypeError, "`n_train` must be an integer"),
])
def test_make_standin_bad_arguments(tmp_path, kwargs, error, match):
    with pytest.raises(error, match=match):
        standin.make_standin(tmp_path, **kwargs)
    assert os.listdir(tmp_path) == []


def test_command_line(tmp_path, capsys):
    folder = tmp_path / "data"
    assert standin.main([str(folder), "--train", "20", "--test", "10", "--seed", "3"]) == 0
    assert read(folder, "train_32x32.mat")["X"].shape == (32, 32, 3, 20)
    assert read(folder, "test_32x32.mat")["X"].shape == (32, 32, 3, 10)
    assert "not real data" in capsys.readouterr().out


@pytest.mark.parametrize("argv, match", [
    (["data", "--train", "0"], "argument --train: must be a positive integer, got '0'"),
    (["data", "--test", "many"], "argument --test: must be a positive integer, got 'many'"),
    (["data", "--seed", "-2"], "argument --seed: must be a non-negative integer, got '-2'"),
    ([], "the following arguments are required: folder"),
])
def test_command_line_bad_arguments(tmp_path, monkeypatch, capsys, argv, match):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        standin.main(argv)
    assert exit_info.value.code == 2
    assert match in capsys.readouterr().err
    assert os.listdir(tmp_path) == []


# Never replace data that standin.py did not make.

def write_real_looking(path, n=3):
    """An SVHN-like file without the stand-in marker, as download_data.sh would leave it."""
    scipy.io.savemat(path, {"X": np.zeros((32, 32, 3, n), np.uint8), "y": np.ones((n, 1), np.uint8)})


def broken_files():
    marked = tmp_bytes({"X": np.zeros((32, 32, 3, 2), np.uint8), "standin": standin.STANDIN_NOTE})
    return {"empty": b"", "100 bytes": marked[:100], "text": b"not a MATLAB file at all", "half": marked[:200]}


def tmp_bytes(variables):
    import io
    buffer = io.BytesIO()
    scipy.io.savemat(buffer, variables)
    return buffer.getvalue()


def snapshot(folder):
    return {name: (folder / name).read_bytes() for name in sorted(os.listdir(folder))}


@pytest.mark.parametrize("name", ["train_32x32.mat", "test_32x32.mat"])
def test_refuses_to_replace_a_file_it_did_not_make(tmp_path, name):
    write_real_looking(tmp_path / name)
    before = snapshot(tmp_path)
    with pytest.raises(FileExistsError, match=rf"{tmp_path / name} is not a stand-in made by standin.py \(it may "
                                              rf"be the real SVHN file\): refusing to replace it; pass force=True "
                                              rf"to replace it anyway"):
        standin.make_standin(tmp_path, n_train=5, n_test=5)
    assert snapshot(tmp_path) == before  # neither file written


@pytest.mark.parametrize("kind", sorted(broken_files()))
def test_a_broken_file_counts_as_not_a_standin(tmp_path, kind):
    (tmp_path / "train_32x32.mat").write_bytes(broken_files()[kind])
    before = snapshot(tmp_path)
    with pytest.raises(FileExistsError, match="is not a stand-in made by standin.py"):
        standin.make_standin(tmp_path, n_train=5, n_test=5)
    assert snapshot(tmp_path) == before


def test_force_replaces_real_files(tmp_path):
    write_real_looking(tmp_path / "train_32x32.mat")
    standin.make_standin(tmp_path, n_train=5, n_test=5, force=True)
    assert "standin" in read(tmp_path, "train_32x32.mat")


def test_replaces_its_own_files_without_force(standin_folder, tmp_path):
    standin.make_standin(tmp_path, n_train=5, n_test=5, seed=0)
    standin.make_standin(tmp_path, n_train=7, n_test=5, seed=0)
    assert read(tmp_path, "train_32x32.mat")["X"].shape == (32, 32, 3, 7)


def test_refuses_a_folder_that_is_a_file(tmp_path):
    (tmp_path / "data").write_text("")
    with pytest.raises(NotADirectoryError, match=rf"`folder` must be a folder, got the file {tmp_path / 'data'}"):
        standin.make_standin(tmp_path / "data", n_train=5, n_test=5)


def test_refuses_a_directory_where_a_file_goes(tmp_path):
    (tmp_path / "test_32x32.mat").mkdir()
    with pytest.raises(IsADirectoryError, match=rf"{tmp_path / 'test_32x32.mat'} is a directory; move it away"):
        standin.make_standin(tmp_path, n_train=5, n_test=5, force=True)
    assert os.listdir(tmp_path) == ["test_32x32.mat"]


def test_command_line_refuses_real_data_in_one_line(tmp_path, capsys):
    write_real_looking(tmp_path / "test_32x32.mat")
    before = snapshot(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        standin.main([str(tmp_path), "--train", "5", "--test", "5"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err == (f"standin.py: error: {tmp_path / 'test_32x32.mat'} is not a stand-in made by standin.py (it may "
                   f"be the real SVHN file): refusing to replace it; add --force to replace it anyway\n")
    assert snapshot(tmp_path) == before
    assert standin.main([str(tmp_path), "--train", "5", "--test", "5", "--force"]) == 0
    assert "standin" in read(tmp_path, "test_32x32.mat")


def test_command_line_folder_that_is_a_file(tmp_path, capsys):
    (tmp_path / "data").write_text("x")
    with pytest.raises(SystemExit) as exit_info:
        standin.main([str(tmp_path / "data"), "--train", "5", "--test", "5"])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err == (f"standin.py: error: {tmp_path / 'data'} is a file; give a folder to write "
                                       f"train_32x32.mat and test_32x32.mat into\n")
    assert (tmp_path / "data").read_text() == "x"


def test_a_truncated_standin_is_named_as_one_with_the_command_that_rebuilds_it(tmp_path):
    standin.make_standin(tmp_path, n_train=20, n_test=5)
    path = tmp_path / "train_32x32.mat"
    path.write_bytes(path.read_bytes()[:1000])       # an interrupted copy
    with pytest.raises(ValueError, match=rf"{path} \(1000 bytes\) is truncated.*it is the offline stand-in: "
                                         rf"rebuild it with `python standin\.py {tmp_path}`") as error:
        load_svhn(tmp_path, 5, 5)
    assert "download" not in str(error.value)
    standin.main([str(tmp_path), "--train", "20", "--test", "5"])     # the advice works: no --force needed
    assert read(tmp_path, "train_32x32.mat")["X"].shape == (32, 32, 3, 20)

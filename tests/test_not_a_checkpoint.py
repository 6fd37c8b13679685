"""Files that are not checkpoints of this package, given to load_model, `predict.py --model` and
`train.py --resume`: each says the file is not a checkpoint of this package, naming it, and never suggests
allow_pickle (the CLIs: one line on stderr, exit code 2, no traceback)."""
import pickle
import re

import matplotlib.image
import numpy as np
import pytest

import predict
import train
from checkpoint import is_checkpoint, load_classifier, load_model, load_params, read_preprocessing, save_model
from model import ConvNet


def write_csv(path):
    path.write_text("epoch,loss,train_acc,val_acc\n1,2.30,0.10,0.11\n")


def write_png(path):
    matplotlib.image.imsave(path, np.zeros((4, 4, 3)))


def write_npy(path):
    with open(path, "wb") as file:  # a file object: numpy adds no .npy suffix
        np.save(file, np.ones(3))


def write_foreign_npz(path):
    with open(path, "wb") as file:
        np.savez(file, weights=np.ones(3))


def write_pickle_npz(path):
    with open(path, "wb") as file:
        np.savez(file, objects=np.array([{"a": 1}, None], dtype=object))


def write_pickle(path):
    path.write_bytes(pickle.dumps({"W": np.ones(3)}))


def write_empty(path):
    path.write_bytes(b"")


FILES = {"history.csv": write_csv, "picture.png": write_png, "array.npy": write_npy, "other.npz": write_foreign_npz,
         "objects.npz": write_pickle_npz, "python.pkl": write_pickle, "empty.npz": write_empty}


@pytest.fixture(params=sorted(FILES))
def foreign(request, tmp_path):
    path = tmp_path / request.param
    FILES[request.param](path)
    return path


def not_ours(path):
    return re.escape(str(path)) + " is not a checkpoint of this package"


def test_library_loaders_say_the_file_is_not_a_checkpoint(foreign):
    model = ConvNet((32, 32, 3), 10, 2, 2, seed=0)
    for load in (load_model, load_classifier, read_preprocessing, lambda path: load_params(model, path)):
        with pytest.raises(ValueError, match=not_ours(foreign)) as caught:
            load(foreign)
        assert "allow_pickle" not in str(caught.value)
    assert not is_checkpoint(foreign)


def test_a_checkpoint_with_a_pickled_entry_is_not_ours(tmp_path):
    path = tmp_path / "model.npz"
    save_model(ConvNet((32, 32, 3), 10, 2, 2, seed=0), path)
    with np.load(path, allow_pickle=False) as archive:
        contents = {name: archive[name] for name in archive.files}
    contents["params/conv1_B"] = np.array([{"a": 1}, None], dtype=object)
    np.savez(path, **contents)
    with pytest.raises(ValueError, match=not_ours(path) + r".*`params/conv1_B` holds pickled Python objects") as caught:
        load_model(path)
    assert "allow_pickle" not in str(caught.value)


def run(main, argv, capsys):
    try:
        code = main(argv)
    except SystemExit as exit_:
        code = exit_.code
    return code, *capsys.readouterr()


def assert_one_line(code, stderr, prog, flag, path):
    assert code == 2
    assert stderr.count("\n") == 1 and "Traceback" not in stderr and "allow_pickle" not in stderr, stderr
    # predict.py puts the path before the library's message, train.py starts the sentence with it.
    name = re.escape(str(path))
    assert re.fullmatch(rf"{prog}: error: {flag} ({name}: )?{not_ours(path)}: .+ \(see --help\)\n", stderr), stderr


def test_predict_cli_says_the_model_is_not_a_checkpoint(foreign, tmp_path, capsys):
    write_png(tmp_path / "digit.png")
    code, stdout, stderr = run(predict.main, ["--model", str(foreign), str(tmp_path / "digit.png")], capsys)
    assert stdout == ""
    assert_one_line(code, stderr, "predict.py", "--model", foreign)


def test_train_cli_says_the_resumed_file_is_not_a_checkpoint(foreign, tmp_path, capsys):
    argv = ["--data", str(tmp_path / "no-data"), "--out", str(tmp_path / "run"), "--quiet", "--resume", str(foreign)]
    code, _, stderr = run(train.main, argv, capsys)
    assert_one_line(code, stderr, "train.py", "--resume", foreign)
    assert not (tmp_path / "run").exists()

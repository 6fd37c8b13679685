"""checkpoint.py: round trips, the file layout, atomic writes, and every kind of bad file."""
import json
import os

import numpy as np
import pytest
from blas import assert_same_predictions, rtol_for

import checkpoint
from checkpoint import best_checkpoint_path, load_model, load_params, save_model
from layers import Param
from model import ConvNet

SHAPE = (16, 16, 1)


def make_model(dtype="float64", seed=0, **changes):
    config = {"input_shape": SHAPE, "n_output_classes": 3, "conv1_channels": 2, "conv2_channels": 3,
              "dtype": dtype, **changes}
    return ConvNet(**config, seed=seed)


def images(n=12, seed=1):
    return np.random.default_rng(seed).standard_normal((n, *SHAPE))


def values(model):
    return {name: param.value.copy() for name, param in model.params().items()}


def assert_same_values(actual, expected):
    assert actual.keys() == expected.keys()
    for name in expected:
        assert actual[name].dtype == expected[name].dtype, name
        np.testing.assert_array_equal(actual[name], expected[name], err_msg=name)


def rewrite(path, drop=(), metadata=None, **arrays):
    """Rewrite the checkpoint `path` with entries dropped, replaced or added, and other metadata."""
    with np.load(path, allow_pickle=False) as archive:
        contents = {name: archive[name] for name in archive.files if name not in drop}
    if metadata is not None:
        contents[checkpoint.METADATA_KEY] = np.array(json.dumps(metadata))
    contents.update(arrays)
    np.savez(path, **contents)


def saved_metadata(path):
    with np.load(path, allow_pickle=False) as archive:
        return json.loads(str(archive[checkpoint.METADATA_KEY]))


@pytest.fixture
def saved(tmp_path):
    """A float64 model and the path it was saved to."""
    model = make_model()
    path = tmp_path / "model.npz"
    save_model(model, path)
    return model, path


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_load_model_round_trip(tmp_path, dtype):
    model = make_model(dtype, reg=0.01)
    path = tmp_path / "model.npz"
    save_model(model, path)
    loaded = load_model(path)
    assert loaded.config() == model.config()
    assert_same_values(values(loaded), values(model))
    X = images().astype(dtype)
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    np.testing.assert_array_equal(loaded.forward(X), model.forward(X))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_load_params_round_trip(tmp_path, dtype):
    model, other = make_model(dtype, seed=0), make_model(dtype, seed=1)
    path = tmp_path / "model.npz"
    save_model(model, str(path))
    load_params(other, str(path))
    assert_same_values(values(other), values(model))
    X = images().astype(dtype)
    np.testing.assert_array_equal(other.predict(X), model.predict(X))


def test_load_params_casts_to_the_model_dtype(tmp_path):
    model32, model64 = make_model("float32", seed=0), make_model("float64", seed=1)
    save_model(model32, tmp_path / "model.npz")
    load_params(model64, tmp_path / "model.npz")
    assert_same_values(values(model64), {name: value.astype(np.float64) for name, value in values(model32).items()})


def test_file_layout(saved):
    model, path = saved
    with np.load(path, allow_pickle=False) as archive:
        assert sorted(archive.files) == sorted([checkpoint.METADATA_KEY] + [f"params/{name}" for name in
                                                                            model.params()])
    metadata = saved_metadata(path)
    assert metadata == {"format": "numpy-cnn-checkpoint", "version": 1, "model": "ConvNet",
                        "config": json.loads(json.dumps(model.config()))}


def test_save_replaces_a_checkpoint_with_overwrite_and_leaves_no_temporary_file(saved):
    _, path = saved
    newer = make_model(seed=5)
    save_model(newer, path, overwrite=True)
    assert_same_values(values(load_model(path)), values(newer))
    assert os.listdir(path.parent) == ["model.npz"]


def test_save_refuses_to_replace_a_checkpoint_without_overwrite(saved):
    model, path = saved
    before = path.read_bytes()
    with pytest.raises(FileExistsError, match=rf"`path` '{path}' already holds a checkpoint; pass overwrite=True"):
        save_model(make_model(seed=5), path)
    assert path.read_bytes() == before
    with pytest.raises(TypeError, match="`overwrite` must be True or False, got 'yes'"):
        save_model(make_model(seed=5), path, overwrite="yes")


@pytest.mark.parametrize("contents", [b"epoch,loss\n1,2.3\n", b"", b"\x89PNG\r\n\x1a\n...", b"PK\x03\x04 broken"],
                         ids=["csv", "empty", "png", "broken zip"])
@pytest.mark.parametrize("overwrite", [False, True])
def test_save_never_replaces_a_file_that_is_not_a_checkpoint(tmp_path, contents, overwrite):
    path = tmp_path / "x.npz"
    path.write_bytes(contents)
    with pytest.raises(FileExistsError, match=rf"'{path}' holds a file that is not a checkpoint of this package; "
                                              r"save_model never replaces one, even with overwrite=True"):
        save_model(make_model(), path, overwrite=overwrite)
    assert path.read_bytes() == contents
    assert os.listdir(tmp_path) == ["x.npz"]


def test_is_checkpoint(saved, tmp_path):
    _, path = saved
    assert checkpoint.is_checkpoint(path) and checkpoint.is_checkpoint(str(path))
    rewrite(path, metadata={**saved_metadata(path), "version": 2})
    assert checkpoint.is_checkpoint(path)  # another version of ours: still ours to replace
    (tmp_path / "notes.txt").write_text("hello")
    assert not checkpoint.is_checkpoint(tmp_path / "notes.txt")
    assert not checkpoint.is_checkpoint(tmp_path / "missing.npz")
    assert not checkpoint.is_checkpoint(tmp_path)


@pytest.mark.parametrize("failure", ["write", "rename"])
def test_failed_save_keeps_the_previous_file(saved, monkeypatch, failure):
    model, path = saved
    before = path.read_bytes()

    def write_half_then_fail(file, **arrays):
        file.write(b"PK\x03\x04 half an archive")
        raise KeyboardInterrupt

    def fail_rename(source, target):
        raise OSError("disk full")

    if failure == "write":
        monkeypatch.setattr(checkpoint.np, "savez", write_half_then_fail)
    else:
        monkeypatch.setattr(checkpoint.os, "replace", fail_rename)
    with pytest.raises((KeyboardInterrupt, OSError)):
        save_model(make_model(seed=9), path, overwrite=True)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert os.listdir(path.parent) == ["model.npz"]
    assert_same_values(values(load_model(path)), values(model))


def test_architecture_mismatch_names_the_argument(saved):
    _, path = saved
    with pytest.raises(ValueError, match=r"another architecture: conv1_channels=2 in the file, conv1_channels=4"):
        load_params(make_model(conv1_channels=4), path)


def test_input_shape_mismatch_with_same_parameter_shapes(saved):
    _, path = saved
    other = make_model(input_shape=(19, 19, 1))  # pools to the same 1x1, so every parameter has the same shape
    assert {name: p.value.shape for name, p in other.params().items()} == \
           {name: p.value.shape for name, p in make_model().params().items()}
    with pytest.raises(ValueError, match=r"another architecture: input_shape=\[16, 16, 1\] in the file"):
        load_params(other, path)


def test_missing_parameter(saved):
    _, path = saved
    rewrite(path, drop=["params/conv2_B"])
    target = make_model(seed=3)
    before = values(target)
    with pytest.raises(ValueError, match=r"has no parameter `conv2_B`"):
        load_params(target, path)
    assert_same_values(values(target), before)  # nothing loaded when anything is wrong
    with pytest.raises(ValueError, match=r"has no parameter `conv2_B`"):
        load_model(path)


def test_wrong_shape(saved):
    _, path = saved
    rewrite(path, **{"params/fc_W": np.zeros((5, 3))})
    target = make_model(seed=3)
    before = values(target)
    with pytest.raises(ValueError, match=r"parameter `fc_W` in .* has shape \(5, 3\), the model's has \(3, 3\)"):
        load_params(target, path)
    assert_same_values(values(target), before)


def test_extra_parameter(saved):
    _, path = saved
    rewrite(path, **{"params/fc2_W": np.zeros((3, 3))})
    with pytest.raises(ValueError, match=r"parameter `fc2_W` that the model lacks"):
        load_params(make_model(), path)


def test_integer_parameter(saved):
    _, path = saved
    rewrite(path, **{"params/conv1_B": np.zeros(2, dtype=np.int64)})
    with pytest.raises(ValueError, match=r"parameter `conv1_B` .* has dtype int64, expected floats"):
        load_params(make_model(), path)


def test_parameters_of_a_model_without_config(saved):
    """Duck-typed models without config() are checked by parameter names and shapes only."""
    model, path = saved

    class Bare:
        def __init__(self):
            self.weights = {name: Param(np.zeros_like(value)) for name, value in values(model).items()}

        def params(self):
            return self.weights

    bare = Bare()
    load_params(bare, path)
    assert_same_values({name: param.value for name, param in bare.params().items()}, values(model))
    bare.weights["conv1_W"] = Param(np.zeros((1, 1, 1, 1)))
    with pytest.raises(ValueError, match=r"`conv1_W` .* has shape \(3, 3, 1, 2\), the model's has \(1, 1, 1, 1\)"):
        load_params(bare, path)


@pytest.mark.parametrize("keep", [lambda size: 0, lambda size: 10, lambda size: size // 2, lambda size: size - 30],
                         ids=["empty", "10 bytes", "half", "all but 30 bytes"])
def test_truncated_file(saved, keep):
    _, path = saved
    data = path.read_bytes()
    path.write_bytes(data[:keep(len(data))])
    message = r"is not a checkpoint of this package: (it is empty|a truncated or corrupt archive)"
    with pytest.raises(checkpoint.NotACheckpointError, match=message):
        load_params(make_model(), path)
    with pytest.raises(ValueError, match=message):
        load_model(path)


@pytest.mark.parametrize("where", [0.3, 0.5, 0.7])
def test_corrupt_file(saved, where):
    _, path = saved
    data = bytearray(path.read_bytes())
    start = int(len(data) * where)
    data[start:start + 16] = bytes(16)
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=r"is not a checkpoint of this package: a truncated or corrupt archive"):
        load_params(make_model(), path)


@pytest.mark.parametrize("write, match", [
    (lambda file: np.savez(file, weights=np.ones(3)),
     r"without the `__checkpoint__` entry that save_model writes \(entries: weights\)"),
    (lambda file: np.save(file, np.ones(3)), r"single \.npy array"),
    (lambda file: file.write(b"hello, not numpy"), r"is not a checkpoint of this package: it is text"),
    (lambda file: np.savez(file, __checkpoint__=np.array("{not json")), r"does not say format 'numpy-cnn-checkpoint'"),
    (lambda file: np.savez(file, __checkpoint__=np.array('{"format": "other"}')),
     r"is not a checkpoint of this package: its `__checkpoint__` entry does not say format"),
    (lambda file: np.savez(file, __checkpoint__=np.array([1, 2])), r"does not say format"),
])
def test_foreign_file(tmp_path, write, match):
    path = tmp_path / "foreign.npz"
    with open(path, "wb") as file:  # given a file object, numpy adds no suffix to the name
        write(file)
    with pytest.raises(ValueError, match=match):
        load_params(make_model(), path)
    with pytest.raises(ValueError, match=match):
        load_model(path)


def test_pickled_arrays_are_never_loaded(saved):
    _, path = saved
    rewrite(path, **{"params/conv1_B": np.array([{"a": 1}, None], dtype=object)})
    with pytest.raises(ValueError, match=r"is not a checkpoint of this package: its entry `params/conv1_B` holds "
                                         r"pickled Python objects") as caught:
        load_params(make_model(), path)
    assert "allow_pickle" not in str(caught.value)


def test_other_version(saved):
    _, path = saved
    rewrite(path, metadata={**saved_metadata(path), "version": 2})
    with pytest.raises(ValueError, match=r"format version 2; this code reads version 1"):
        load_params(make_model(), path)


def test_load_model_of_another_class(saved):
    _, path = saved
    rewrite(path, metadata={**saved_metadata(path), "model": "ResNet"})
    with pytest.raises(ValueError, match=r"holds a 'ResNet' model; load_model rebuilds only ConvNet"):
        load_model(path)


def test_load_model_with_an_invalid_architecture(saved):
    _, path = saved
    metadata = saved_metadata(path)
    rewrite(path, metadata={**metadata, "config": {**metadata["config"], "conv1_channels": 0}})
    with pytest.raises(ValueError, match=r"an architecture ConvNet cannot build.*`conv1_channels`"):
        load_model(path)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing.npz"):
        load_model(tmp_path / "nothing.npz")


def test_save_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"directory .*missing does not exist"):
        save_model(make_model(), tmp_path / "missing" / "model.npz")
    with pytest.raises(TypeError, match=r"`path` must be a str or os.PathLike, got int"):
        save_model(make_model(), 3)

    class NoConfig:
        def params(self):
            return {}

    with pytest.raises(TypeError, match=r"`model` must have a config\(\) method"):
        save_model(NoConfig(), tmp_path / "model.npz")
    assert os.listdir(tmp_path) == []


def test_best_checkpoint_path():
    assert best_checkpoint_path("runs/model.npz") == "runs/model.best.npz"
    assert best_checkpoint_path("model") == "model.best"


def test_save_to_a_directory_fails_before_anything_is_computed(tmp_path):
    class Unreachable:
        def config(self):
            raise AssertionError("config() called before the path was checked")

        def params(self):
            raise AssertionError("params() called before the path was checked")

    with pytest.raises(IsADirectoryError, match=rf"`path` must name a file, got the directory '{tmp_path}'"):
        save_model(Unreachable(), tmp_path)
    with pytest.raises(IsADirectoryError, match="`path` must name a file"):
        save_model(make_model(), str(tmp_path))
    assert os.listdir(tmp_path) == []


# Preprocessing saved beside the model, and the Classifier that applies it to raw images.

def preprocessing(dtype="float32", seed=2):
    mean = np.random.default_rng(seed).random(SHAPE).astype(dtype) * 0.5
    return {"scale": 1 / 255, "mean_image": mean}


def raw_images(n=12, seed=3, dtype=np.uint8):
    return np.random.default_rng(seed).integers(0, 256, (n, *SHAPE)).astype(dtype)


@pytest.fixture
def saved_classifier(tmp_path):
    """A float32 model saved with preprocessing: (model, preprocessing, path)."""
    model, prep = make_model("float32"), preprocessing()
    path = tmp_path / "model.npz"
    save_model(model, path, preprocessing=prep)
    return model, prep, path


def test_preprocessing_file_layout(saved_classifier):
    model, prep, path = saved_classifier
    with np.load(path, allow_pickle=False) as archive:
        assert sorted(archive.files) == sorted([checkpoint.METADATA_KEY, "preprocessing/mean_image"] +
                                               [f"params/{name}" for name in model.params()])
        np.testing.assert_array_equal(archive["preprocessing/mean_image"], prep["mean_image"])
    assert saved_metadata(path)["preprocessing"] == {"scale": 1 / 255}
    assert_same_values(values(load_model(path)), values(model))  # load_model still returns the model


def test_load_classifier_round_trip(saved_classifier):
    model, prep, path = saved_classifier
    classifier = checkpoint.load_classifier(path)
    assert isinstance(classifier, checkpoint.Classifier) and isinstance(classifier.model, ConvNet)
    assert_same_values(values(classifier.model), values(model))
    assert set(classifier.preprocessing) == {"scale", "mean_image"}
    assert classifier.preprocessing["scale"] == 1 / 255 and type(classifier.preprocessing["scale"]) is float
    assert classifier.preprocessing["mean_image"].dtype == np.float32
    np.testing.assert_array_equal(classifier.preprocessing["mean_image"], prep["mean_image"])


@pytest.mark.parametrize("dtype", [np.uint8, np.int64, np.float32, np.float64])
def test_preprocess_scales_and_subtracts_in_the_model_dtype(saved_classifier, dtype):
    model, prep, path = saved_classifier
    classifier = checkpoint.load_classifier(path)
    images = raw_images(dtype=dtype)
    X = classifier.preprocess(images)
    assert X.dtype == np.float32 and X.shape == images.shape
    np.testing.assert_array_equal(X, np.multiply(images, np.float32(1 / 255), dtype=np.float32) - prep["mean_image"])
    np.testing.assert_array_equal(classifier.predict(images), model.predict(X))
    assert classifier.predict(images).dtype == np.int64


def test_predict_a_single_image_and_any_batch_size(saved_classifier):
    model, _, path = saved_classifier
    classifier = checkpoint.load_classifier(path)
    images = raw_images(n=7)
    scores = classifier.model.forward(classifier.preprocess(images))     # one batch of 7
    rtol = rtol_for(classifier.model.dtype)
    assert_same_predictions(classifier.predict(images, batch_size=3), scores, rtol)
    assert classifier.preprocess(images[2]).shape == (1, *SHAPE)
    assert_same_predictions(classifier.predict(images[2]), scores[2:3], rtol)
    assert classifier.predict(images[:0]).shape == (0,)


def test_classifier_without_preprocessing_entries_only_casts(tmp_path):
    model = make_model("float64")
    save_model(model, tmp_path / "model.npz", preprocessing={})
    classifier = checkpoint.load_classifier(tmp_path / "model.npz")
    images = raw_images()
    np.testing.assert_array_equal(classifier.preprocess(images), images.astype(np.float64))


@pytest.mark.parametrize("images, error, match", [
    (raw_images()[:, :, :8], ValueError, r"`images` must have shape \(n, 16, 16, 1\) or \(16, 16, 1\), "
                                         r"got \(12, 16, 8, 1\)"),
    (np.zeros((16, 16)), ValueError, r"`images` must have shape \(n, 16, 16, 1\) or \(16, 16, 1\), got \(16, 16\)"),
    (np.zeros((2, 16, 16, 1), dtype=bool), TypeError, r"`images` must hold pixel values 0..255 as integers or "
                                                      r"floats, got dtype bool"),
    (np.full((2, 16, 16, 1), "a"), TypeError, r"`images` must hold pixel values 0..255 .*got dtype <U1"),
    (np.zeros((2, 16, 16, 1), dtype=complex), TypeError, r"got dtype complex128"),
    (np.full((2, 16, 16, 1), np.nan), ValueError, r"`images` must hold finite values only, got 512 NaN"),
    (np.full((2, 16, 16, 1), -0.5), ValueError, r"`images` must hold raw pixel values in \[0, 255\], got values "
                                                r"from -0.5 to -0.5; pass the images before any scaling or mean "
                                                r"subtraction"),
    (np.full((1, 16, 16, 1), 256, dtype=np.int64), ValueError, r"raw pixel values in \[0, 255\], got values from "
                                                               r"256 to 256"),
    ("not images", TypeError, r"`images` must hold pixel values 0..255 as integers or floats, got dtype <U10"),
])
def test_classifier_refuses_bad_images(saved_classifier, images, error, match):
    classifier = checkpoint.load_classifier(saved_classifier[2])
    with pytest.raises(error, match=match):
        classifier.preprocess(images)
    with pytest.raises(error, match=match):
        classifier.predict(images)


def test_classifier_refuses_a_bad_batch_size(saved_classifier):
    classifier = checkpoint.load_classifier(saved_classifier[2])
    with pytest.raises(ValueError, match="`batch_size` must be a positive integer, got 0"):
        classifier.predict(raw_images(), batch_size=0)


def test_load_classifier_of_a_file_without_preprocessing(saved):
    _, path = saved
    with pytest.raises(ValueError, match=r"model.npz holds no preprocessing \(it was saved without "
                                         r"`preprocessing=`\); load it with load_model and preprocess the "
                                         r"images yourself"):
        checkpoint.load_classifier(path)


@pytest.mark.parametrize("prep, error, match", [
    ({"std": 0.5}, ValueError, r"preprocessing entry `std` is not one Classifier applies \(scale, mean_image\)"),
    ({"scale": 0.0}, ValueError, r"`preprocessing\['scale'\]` must be a finite number > 0, got 0.0"),
    ({"scale": "big"}, TypeError, r"`preprocessing\['scale'\]` must be a real number, got 'big'"),
    ({"mean_image": np.zeros((8, 8, 1))}, ValueError, r"`preprocessing\['mean_image'\]` must broadcast to the "
                                                      r"model's input shape \(16, 16, 1\), got shape \(8, 8, 1\)"),
    ({"mean_image": np.full(SHAPE, np.inf)}, ValueError, r"`preprocessing\['mean_image'\]` must hold finite values"),
])
def test_classifier_refuses_preprocessing_it_cannot_apply(tmp_path, prep, error, match):
    save_model(make_model(), tmp_path / "model.npz", preprocessing=prep)
    with pytest.raises(error, match=match):
        checkpoint.load_classifier(tmp_path / "model.npz")
    with pytest.raises(error, match=match):
        checkpoint.Classifier(make_model(), prep)


def test_classifier_accepts_a_mean_per_channel(tmp_path):
    model = make_model()
    classifier = checkpoint.Classifier(model, {"mean_image": np.array([0.25])})
    np.testing.assert_array_equal(classifier.preprocess(raw_images()), raw_images() - 0.25)


@pytest.mark.parametrize("prep, error, match", [
    ([("scale", 1.0)], TypeError, r"`preprocessing` must be None or a dict of scalars and arrays, got list"),
    ({1: 2.0}, ValueError, r"`preprocessing` keys must be non-empty strings without '/', got 1"),
    ({"a/b": 2.0}, ValueError, r"`preprocessing` keys must be non-empty strings without '/', got 'a/b'"),
    ({"scale": [1, 2]}, TypeError, r"`preprocessing\['scale'\]` must be a number, str, bool, None or ndarray, "
                                   r"got list"),
    ({"scale": float("nan")}, ValueError, r"`preprocessing\['scale'\]` must be finite, got nan"),
    ({"mean": np.array([None])}, TypeError, r"`preprocessing\['mean'\]` must be an array of numbers, got dtype "
                                            r"object"),
])
def test_save_refuses_bad_preprocessing_before_writing(tmp_path, prep, error, match):
    with pytest.raises(error, match=match):
        save_model(make_model(), tmp_path / "model.npz", preprocessing=prep)
    assert os.listdir(tmp_path) == []


def test_preprocessing_scalars_keep_their_json_types(tmp_path):
    prep = {"scale": np.float32(0.5), "steps": np.int64(3), "name": "svhn", "flag": True, "nothing": None,
            "channels": np.arange(3)}
    save_model(make_model(), tmp_path / "model.npz", preprocessing=prep)
    loaded = checkpoint.read_preprocessing(tmp_path / "model.npz")
    assert {key: value for key, value in loaded.items() if key != "channels"} == \
           {"scale": 0.5, "steps": 3, "name": "svhn", "flag": True, "nothing": None}
    assert type(loaded["steps"]) is int and type(loaded["scale"]) is float
    np.testing.assert_array_equal(loaded["channels"], np.arange(3))


def test_read_preprocessing_of_a_file_without_it(saved):
    assert checkpoint.read_preprocessing(saved[1]) is None


def test_broken_preprocessing_metadata(saved_classifier):
    _, _, path = saved_classifier
    rewrite(path, metadata={**saved_metadata(path), "preprocessing": [1, 2]})
    with pytest.raises(ValueError, match=r"its `preprocessing` entry must be an object"):
        checkpoint.load_classifier(path)


# The training state saved beside the model.

def test_training_state_round_trip(tmp_path):
    state = {"epoch": 3, "lr": 0.25, "note": "x", "flag": True, "none": None, "count": np.int64(7),
             "history": [{"epoch": 1, "loss": 2.302585092994046}, {"epoch": 2, "loss": float("nan")}],
             "optimizers": {"conv1_W": {"m": np.arange(6.0).reshape(2, 3), "t": 4}, "fc_B": {"m": None, "t": 0}},
             "shapes": (np.float32(1.5), np.arange(3, dtype=np.uint32)), "big": 2 ** 100}
    path = tmp_path / "model.npz"
    save_model(make_model(), path, training_state=state)
    loaded = checkpoint.load_training_state(path)
    assert loaded.keys() == state.keys()
    np.testing.assert_array_equal(loaded["optimizers"]["conv1_W"]["m"], state["optimizers"]["conv1_W"]["m"])
    assert loaded["optimizers"]["conv1_W"]["t"] == 4 and loaded["optimizers"]["fc_B"] == {"m": None, "t": 0}
    assert loaded["history"][0] == state["history"][0] and np.isnan(loaded["history"][1]["loss"])
    assert loaded["shapes"][0] == 1.5 and loaded["shapes"][1].dtype == np.uint32
    assert (loaded["count"], loaded["big"], loaded["none"], loaded["flag"]) == (7, 2 ** 100, None, True)
    assert_same_values(values(load_model(path)), values(make_model()))  # the model loads as before


def test_a_file_without_training_state(saved):
    _, path = saved
    assert checkpoint.load_training_state(path) is None


@pytest.mark.parametrize("state, error, match", [
    ({"a/b": 1}, ValueError, r"`training_state` keys must be non-empty strings without '/', got 'a/b'"),
    ({"x": {"y": object()}}, TypeError, r"`training_state` must hold numbers, .* got object at 'x/y'"),
    ({"x": np.array(["a"])}, TypeError, r"`training_state` must hold arrays of numbers, got dtype <U1 at 'x'"),
    ([1, 2], TypeError, r"`training_state` must be None or a dict, got list"),
])
def test_save_refuses_a_bad_training_state_before_writing(tmp_path, state, error, match):
    with pytest.raises(error, match=match):
        save_model(make_model(), tmp_path / "model.npz", training_state=state)
    assert os.listdir(tmp_path) == []

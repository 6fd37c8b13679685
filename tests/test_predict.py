"""predict.py: reading PNG and JPEG files of any size and mode, resizing against PIL and exact oracles, and the
command line on models saved by short train.py runs (probabilities, --top, folders, bad files, bad models)."""
import os
import re
import subprocess
import sys
import warnings
from functools import partial
from pathlib import Path

import matplotlib.image
import numpy as np
import pytest
from blas import assert_same_predictions
from helpers import run_cli
from PIL import Image

import predict
import train
from checkpoint import load_classifier, save_model
from dataset import StandInDataWarning, load_svhn
from model import ConvNet

ROOT = Path(__file__).resolve().parent.parent
RUN = ["--max-train", "300", "--val", "50", "--max-test", "50", "--epochs", "2", "--lr", "0.01", "--quiet"]
FORMATS = ".png/.jpg/.jpeg/.gif/.webp/.bmp/.tif/.tiff"  # each written by Pillow and read back below
run_main = partial(run_cli, predict.main)  # run_main(argv, capsys) -> (exit code, stdout, stderr)
LINE = re.compile(r"(?P<path>.+): (?P<ranked>\d \(\d\.\d{4}\)(, \d \(\d\.\d{4}\))*)")


@pytest.fixture(scope="module", params=["convnet", "vgg"])
def model_path(request, standin, tmp_path_factory):
    """model.npz of a short train.py run: a ConvNet, or a vgg() with BatchNorm (evaluation mode matters)."""
    out = tmp_path_factory.mktemp(request.param) / "run"
    arch = ["--conv1", "4", "--conv2", "8"] if request.param == "convnet" else ["--arch", "vgg", "--widths", "4,8"]
    assert train.main(["--data", standin, "--out", str(out), *RUN, *arch]) == 0
    return out / "model.npz"


@pytest.fixture(scope="module")
def digits(standin):
    """Raw test images of the stand-in, uint8 of shape (n, 32, 32, 3)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StandInDataWarning)
        _, _, test_X, _ = load_svhn(standin, 1, 100)
    return test_X.astype(np.uint8)


def upscale(image, height, width):
    """`image` (32, 32, channels) of uint8 enlarged by PIL, so that files of other sizes hold a real digit."""
    channels = [np.asarray(Image.fromarray(image[:, :, c]).resize((width, height), Image.BILINEAR))
                for c in range(image.shape[2])]
    return np.stack(channels, axis=2)


def write_images(folder, digits):
    """Files of several sizes and modes; returns {path: pixels as PIL reads them, RGB float64 0..255}."""
    folder.mkdir(exist_ok=True)
    files = {}

    def keep(path):
        pixels = np.asarray(Image.open(path).convert("RGBA"), dtype=np.float64)
        alpha = pixels[:, :, 3:] / 255
        files[str(path)] = pixels[:, :, :3] * alpha + 255 * (1 - alpha)  # over white

    matplotlib.image.imsave(folder / "a_rgb_32.png", digits[0])
    keep(folder / "a_rgb_32.png")
    rgba = np.concatenate([upscale(digits[1], 75, 60), np.full((75, 60, 1), 128, np.uint8)], axis=2)
    matplotlib.image.imsave(folder / "b_rgba_75x60.png", rgba)
    keep(folder / "b_rgba_75x60.png")
    Image.fromarray(upscale(digits[2], 20, 24).mean(axis=2).astype(np.uint8), "L").save(folder / "c_grey_20x24.png")
    keep(folder / "c_grey_20x24.png")
    matplotlib.image.imsave(folder / "d_rgb_128.jpg", upscale(digits[3], 128, 128), pil_kwargs={"quality": 95})
    keep(folder / "d_rgb_128.jpg")
    Image.fromarray(upscale(digits[4], 40, 33).mean(axis=2).astype(np.uint8), "L").save(folder / "e_grey.jpeg")
    keep(folder / "e_grey.jpeg")
    Image.fromarray(digits[5]).save(folder / "f_upper.PNG")
    keep(folder / "f_upper.PNG")
    return files


def expected_prediction(classifier, pixels):
    """(digit, probability) of an image whose RGB pixels are `pixels`, by an independent route: the class of
    Classifier.predict, and its probability from the model's own cross-entropy loss (exp(-loss) for that label)."""
    image = np.clip(predict.resize(pixels, 32, 32), 0, 255)
    digit = int(classifier.predict(image)[0])
    model = classifier.model
    was_training = getattr(model, "training", None)
    if was_training is not None:
        model.eval()  # BatchNorm's running statistics, no dropout
    loss = model.compute_loss_and_gradients(classifier.preprocess(image), [digit])
    if was_training:
        model.train()
    return digit, float(np.exp(-loss))


def parse(stdout):
    """[(path, [(digit, probability), ...]), ...] from predict.py's output."""
    rows = []
    for line in stdout.splitlines():
        match = LINE.fullmatch(line)
        assert match, line
        ranked = [(int(d), float(p)) for d, p in re.findall(r"(\d) \((\d\.\d{4})\)", match["ranked"])]
        rows.append((match["path"], ranked))
    return rows


# Reading and resizing

@pytest.mark.parametrize("n_in, n_out", [(32, 32), (64, 32), (50, 32), (33, 32), (7, 3), (10, 32), (3, 7), (1, 4),
                                         (4, 1)])
def test_resize_weights_rows_are_averages(n_in, n_out):
    weights = predict.resize_weights(n_in, n_out)
    assert weights.shape == (n_out, n_in) and (weights >= 0).all()
    np.testing.assert_allclose(weights.sum(axis=1), 1, rtol=0, atol=1e-12)
    if n_in == n_out:
        np.testing.assert_array_equal(weights, np.eye(n_in))


@pytest.mark.parametrize("n_in, n_out, refine", [(64, 32, 1), (96, 32, 1), (50, 32, 16), (45, 32, 32), (7, 3, 3)])
def test_area_averaging_is_the_mean_over_each_new_pixels_area(rng, n_in, n_out, refine):
    # Oracle: split every old pixel into `refine` equal parts, then each new pixel is the mean of its
    # n_in * refine / n_out parts.
    row = rng.uniform(0, 255, n_in)
    fine = np.repeat(row, refine)
    oracle = fine.reshape(n_out, -1).mean(axis=1)
    np.testing.assert_allclose(predict.resize_weights(n_in, n_out) @ row, oracle, rtol=1e-12)


def pil_resize(image, height, width, method):
    """PIL's float ('F' mode) resize of each channel of `image` (height, width, channels)."""
    channels = [np.asarray(Image.fromarray(image[:, :, c].astype(np.float32), "F").resize((width, height), method))
                for c in range(image.shape[2])]
    return np.stack(channels, axis=2).astype(np.float64)


@pytest.mark.parametrize("shape, size", [((16, 16, 3), (32, 32)), ((10, 25, 3), (32, 32)), ((5, 3, 1), (13, 32)),
                                         ((31, 20, 3), (32, 32))])
def test_enlarging_is_pils_bilinear(rng, shape, size):
    image = rng.uniform(0, 255, shape)
    np.testing.assert_allclose(predict.resize(image, *size), pil_resize(image, *size, Image.BILINEAR), rtol=0,
                               atol=1e-3)


@pytest.mark.parametrize("shape", [(64, 64, 3), (96, 32, 3), (128, 64, 1)])
def test_shrinking_by_whole_factors_is_pils_box_filter(rng, shape):
    image = rng.uniform(0, 255, shape)
    np.testing.assert_allclose(predict.resize(image, 32, 32), pil_resize(image, 32, 32, Image.BOX), rtol=0,
                               atol=1e-3)


def test_resize_keeps_constants_and_the_range(rng):
    np.testing.assert_allclose(predict.resize(np.full((75, 41, 3), 200.0), 32, 32), 200.0)
    image = rng.uniform(0, 255, (45, 19, 3))
    resized = predict.resize(image, 32, 32)
    assert resized.shape == (32, 32, 3) and resized.dtype == np.float64
    assert image.min() - 1e-9 <= resized.min() and resized.max() <= image.max() + 1e-9


def test_resize_refuses_bad_input():
    with pytest.raises(ValueError, match=r"`image` must be \(height, width, channels\), got shape \(4, 4\)"):
        predict.resize(np.zeros((4, 4)), 2, 2)
    with pytest.raises(ValueError, match="`height` must be a positive integer, got 0"):
        predict.resize(np.zeros((4, 4, 3)), 0, 2)


@pytest.mark.parametrize("image, expected", [
    (np.array([[[0.0, 0.5, 1.0]]], np.float32), [[[0.0, 127.5, 255.0]]]),
    (np.array([[[0, 128, 255, 255]]], np.uint8), [[[0, 128, 255]]]),
    (np.array([[[0, 128, 255, 0]]], np.uint8), [[[255, 255, 255]]]),           # transparent: white, as viewers show it
    (np.array([[[0, 100, 255, 51]]], np.uint8), [[[204, 224, 255]]]),          # 20% opaque over white
    (np.array([[[65535, 0, 257]]], np.uint16), [[[255, 0, 1]]]),
    (np.array([[0.2, 1.0]], np.float32), [[[51] * 3, [255] * 3]]),
    (np.array([[[10, 255]]], np.uint8), [[[10] * 3]]),
    (np.array([[[10, 0]]], np.uint8), [[[255] * 3]]),
    (np.array([[[0.0, 0.5, 1.0, 0.5]]], np.float32), [[[127.5, 191.25, 255]]]),
    (np.array([[[0.4]]], np.float64), [[[102] * 3]]),
])
def test_to_rgb_brings_every_mode_to_rgb_0_255(image, expected):
    rgb = predict.to_rgb(image)
    assert rgb.dtype == np.float64 and rgb.shape == (*image.shape[:2], 3)
    np.testing.assert_allclose(rgb, expected, rtol=1e-6)


@pytest.mark.parametrize("image, error, match", [
    (np.zeros((4, 4, 5)), ValueError, r"`image` must be \(height, width\) or \(height, width, 1 to 4 channels\), "
                                      r"got shape \(4, 4, 5\)"),
    (np.zeros(4), ValueError, "got shape"),
    (np.zeros((0, 4, 3)), ValueError, r"got shape \(0, 4, 3\)"),
    (np.array([[["a"]]]), TypeError, "`image` must hold numbers, got dtype <U1"),
])
def test_to_rgb_refuses_what_is_not_an_image(image, error, match):
    with pytest.raises(error, match=match):
        predict.to_rgb(image)


def test_read_image_gives_the_pixels_of_each_mode(tmp_path, digits):
    files = write_images(tmp_path, digits)
    for path, pixels in files.items():
        image = predict.read_image(path)
        assert image.dtype == np.float64 and image.shape == pixels.shape, path
        np.testing.assert_allclose(image, pixels, rtol=0, atol=1e-4, err_msg=path)
    np.testing.assert_array_equal(predict.read_image(tmp_path / "a_rgb_32.png"), digits[0])


def test_read_image_turns_a_photo_as_its_exif_orientation_says(tmp_path, digits):
    """Phones store a photo as the sensor saw it and say in EXIF how to turn it (tag 274, orientation)."""
    upright = upscale(digits[0], 64, 48)                                         # (64, 48, 3), portrait
    stored = np.ascontiguousarray(np.rot90(upright, k=1))                        # (48, 64, 3) as the sensor saw it
    exif = Image.Exif()
    exif[274] = 6                                                                # "rotate 90 degrees clockwise"
    Image.fromarray(stored).save(tmp_path / "phone.jpg", quality=98, exif=exif)
    image = predict.read_image(tmp_path / "phone.jpg")
    assert image.shape == (64, 48, 3)
    assert np.abs(image - upright).mean() < 3                                   # JPEG's loss only


def block_means(pixels, factor):
    """Means of `pixels` (height, width, channels) over factor x factor blocks, partial ones at the bottom and right
    edges: what reducing an image by `factor` computes."""
    height, width = pixels.shape[:2]
    rows, columns = np.arange(0, height, factor), np.arange(0, width, factor)
    sums = np.add.reduceat(np.add.reduceat(pixels, rows, axis=0), columns, axis=1)
    counts = np.outer(np.diff(rows, append=height), np.diff(columns, append=width))
    return sums / counts[:, :, np.newaxis]


def noisy(rng, height, width, channels, dtype=np.uint8):
    """Random pixels of `dtype` over its whole range, shape (height, width, channels) or (height, width)."""
    image = rng.integers(0, np.iinfo(dtype).max, (height, width, channels), endpoint=True).astype(dtype)
    return image[:, :, 0] if channels == 1 else image


@pytest.mark.parametrize("name, make, atol", [
    ("rgb.png", lambda rng: Image.fromarray(noisy(rng, 45, 67, 3)), 1.0),                # Pillow rounds to bytes
    ("rgba.png", lambda rng: Image.fromarray(noisy(rng, 45, 67, 4)), 1.5),           # premultiplied, then on white
    ("grey.png", lambda rng: Image.fromarray(noisy(rng, 45, 67, 1)), 1.0),
    ("grey_alpha.png", lambda rng: Image.fromarray(noisy(rng, 45, 67, 4)).convert("LA"), 1.5),
    ("grey16.png", lambda rng: Image.fromarray(noisy(rng, 45, 67, 1, np.uint16)), 0.01),
    ("palette.gif", lambda rng: Image.fromarray(noisy(rng, 45, 67, 3)).convert("P"), 1.0),
    ("bilevel.png", lambda rng: Image.fromarray(noisy(rng, 45, 67, 1)).convert("1"), 1.0),
])
def test_read_image_reduces_a_large_image_to_block_means_while_reading(tmp_path, rng, name, make, atol):
    make(rng).save(tmp_path / name)
    full = predict.read_image(tmp_path / name, reduce_to=None)
    reduced = predict.read_image(tmp_path / name, reduce_to=10)                 # 45 // 10: by a factor of 4
    assert full.shape == (45, 67, 3) and reduced.shape == (12, 17, 3) and reduced.dtype == np.float64
    np.testing.assert_allclose(reduced, block_means(full, 4), rtol=0, atol=atol)
    np.testing.assert_array_equal(predict.read_image(tmp_path / name, reduce_to=23), full)  # 45 // 23 is 1: kept


def test_read_image_decodes_a_jpeg_at_reduced_size_and_turns_it_upright(tmp_path, digits):
    upright = upscale(digits[0], 192, 144)
    exif = Image.Exif()
    exif[274] = 6                                                                # stored turned, as a phone does
    Image.fromarray(np.ascontiguousarray(np.rot90(upright, k=1))).save(tmp_path / "phone.jpg", quality=98, exif=exif)
    reduced = predict.read_image(tmp_path / "phone.jpg", reduce_to=30)          # libjpeg decodes 1/4: 144 // 4 >= 30
    assert reduced.shape == (48, 36, 3)
    assert np.abs(reduced - block_means(upright.astype(np.float64), 4)).mean() < 3


def test_read_image_reduces_to_a_shorter_side_of_at_least_working_side_by_default(tmp_path):
    assert predict.WORKING_SIDE == 512
    Image.new("RGB", (1100, 1030), (200, 100, 0)).save(tmp_path / "big.png")
    image = predict.read_image(tmp_path / "big.png")                             # 1030 // 512: by a factor of 2
    assert image.shape == (515, 550, 3)
    np.testing.assert_array_equal(image, np.broadcast_to([200.0, 100.0, 0.0], (515, 550, 3)))


def test_read_image_refuses_a_bad_reduce_to(tmp_path):
    Image.new("L", (4, 4)).save(tmp_path / "a.png")
    with pytest.raises(ValueError, match="`reduce_to` must be a positive integer, got 0"):
        predict.read_image(tmp_path / "a.png", reduce_to=0)


@pytest.mark.parametrize("side", [40, 50])  # Pillow warns above MAX_IMAGE_PIXELS and refuses above twice that
def test_read_image_refuses_more_pixels_than_pillows_limit(tmp_path, monkeypatch, side):
    Image.new("L", (side, side), 0).save(tmp_path / "bomb.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match=r"^more than 1,000 pixels \(PIL.Image.MAX_IMAGE_PIXELS, Pillow's guard "
                                             r"against decompression bombs\)$"):
            predict.read_image(tmp_path / "bomb.png")


def test_read_image_puts_a_transparent_drawing_on_white(tmp_path):
    """A digit drawn in an app: black strokes on a transparent canvas, whose hidden colour is black too."""
    drawing = np.zeros((40, 40, 4), np.uint8)
    drawing[8:32, 18:22, 3] = 255                                                # an opaque black "1"
    Image.fromarray(drawing, "RGBA").save(tmp_path / "drawn.png")
    image = predict.read_image(tmp_path / "drawn.png")
    assert (image[8:32, 18:22] == 0).all()
    assert (image[:8] == 255).all() and (image[:, :18] == 255).all()


def test_read_image_reads_every_listed_format(tmp_path, digits):
    assert "/".join(predict.IMAGE_EXTENSIONS) == FORMATS
    for extension in predict.IMAGE_EXTENSIONS:
        path = tmp_path / f"digit{extension}"
        Image.fromarray(upscale(digits[0], 40, 30)).save(path)
        with Image.open(path) as file:
            pixels = np.asarray(file.convert("RGB"), dtype=np.float64)
        np.testing.assert_array_equal(predict.read_image(path), pixels, err_msg=extension)


# Images with nothing to classify

@pytest.mark.parametrize("shape, spread, reason", [
    ((1, 1, 3), 255, "the image is 1x1 pixels"),
    ((40, 2, 3), 255, "the image is 2x40 pixels"),
    ((2, 40, 3), 255, "the image is 40x2 pixels"),
    ((60, 80, 3), 0, "the image is uniform"),
    ((60, 80, 3), predict.UNIFORM_SPREAD, "the image is uniform"),                # a blank page through JPEG
    ((5, 3, 3), 255, None),                                                      # the smallest pixel-font digit
    ((60, 80, 3), 2 * predict.UNIFORM_SPREAD, None),
])
def test_nothing_to_classify_names_a_tiny_or_uniform_image(rng, shape, spread, reason):
    image = np.full(shape, 200.0)
    image.flat[rng.permutation(image.size)[:2]] += [0, spread]
    assert predict.nothing_to_classify(image) == reason


def test_nothing_to_classify_sees_something_in_every_stand_in_digit(digits):
    assert [predict.nothing_to_classify(image.astype(np.float64)) for image in digits] == [None] * len(digits)


def test_cli_warns_of_nothing_to_classify_and_still_classifies(model_path, digits, tmp_path, capsys):
    Image.fromarray(digits[0]).save(tmp_path / "digit.png")
    Image.new("RGB", (640, 480), (255, 255, 255)).save(tmp_path / "blank.jpg")
    Image.new("L", (1, 1), 0).save(tmp_path / "dot.png")
    paths = [str(tmp_path / name) for name in ("blank.jpg", "digit.png", "dot.png")]
    code, stdout, stderr = run_main(["--model", str(model_path), *paths], capsys)
    assert code == 0 and [path for path, _ in parse(stdout)] == paths
    assert stderr.splitlines() == [f"predict.py: warning: {paths[0]}: nothing to classify: the image is uniform",
                                   f"predict.py: warning: {paths[2]}: nothing to classify: the image is 1x1 pixels"]


# Cropping a digit on a plain background

def paper(height, width, ink_box, background=(250, 248, 240), ink=(20, 20, 60)):
    """A page of `background` colour with a solid `ink` rectangle at ink_box = (top, bottom, left, right)."""
    image = np.empty((height, width, 3))
    image[:] = background
    top, bottom, left, right = ink_box
    image[top:bottom, left:right] = ink
    return image


def test_crop_centres_a_square_window_around_the_ink():
    image = paper(300, 400, (100, 172, 180, 216))                                # ink 72 tall, 36 wide
    window = predict.crop_to_digit(image)
    side = round(72 / predict.DIGIT_HEIGHT)                                      # the ink fills DIGIT_HEIGHT of it
    assert window.shape == (side, side, 3)
    rows, columns = np.nonzero(window[:, :, 0] < 100)
    assert rows.max() - rows.min() + 1 == 72 and columns.max() - columns.min() + 1 == 36
    assert abs((rows.min() + rows.max()) / 2 - (side - 1) / 2) <= 1                # centred
    assert abs((columns.min() + columns.max()) / 2 - (side - 1) / 2) <= 1


def test_crop_pads_with_the_background_where_the_window_leaves_the_page():
    image = paper(100, 300, (30, 70, 3, 20))                                     # ink 40 tall, 3 pixels from the left
    window = predict.crop_to_digit(image)
    assert window.shape == (56, 56, 3)
    np.testing.assert_array_equal(window[:, 0], np.broadcast_to((250, 248, 240), (56, 3)))
    assert (window[:, :, 0] < 100).sum() == 40 * 17


@pytest.mark.parametrize("case", ["ink at the edge", "digit fills the picture", "busy background", "blank page"])
def test_crop_leaves_alone_what_is_not_a_digit_on_a_plain_background(case, rng):
    if case == "ink at the edge":
        image = paper(60, 80, (10, 50, 0, 20))
    elif case == "digit fills the picture":                                      # window 0.81 of the 60 rows
        image = paper(60, 80, (13, 48, 30, 50))
    elif case == "busy background":
        image = paper(60, 80, (10, 50, 30, 50)) + rng.normal(0, 40, (60, 80, 3))
    else:
        image = paper(60, 80, (0, 0, 0, 0))
    np.testing.assert_array_equal(predict.crop_to_digit(image), image)


def test_crop_leaves_the_stand_in_digits_as_they_are(digits):
    """Crops like SVHN's (neighbours at the edges, uneven light, noise) are what the model was trained on."""
    for image in digits.astype(np.float64):
        assert predict.crop_to_digit(image) is image


def test_cli_crops_a_digit_on_a_page_unless_told_not_to(model_path, digits, tmp_path, capsys):
    image = paper(240, 320, (60, 180, 130, 190)).astype(np.uint8)
    Image.fromarray(image).save(tmp_path / "page.png")
    classifier = load_classifier(model_path)
    for crop, pixels in [("auto", predict.crop_to_digit(image.astype(np.float64))), ("none", image)]:
        code, stdout, _ = run_main(["--model", str(model_path), "--crop", crop, str(tmp_path / "page.png")], capsys)
        (_, ranked), = parse(stdout)
        assert code == 0 and ranked[0][1] == pytest.approx(expected_prediction(classifier, pixels)[1], abs=6e-5)


@pytest.mark.parametrize("content, error, match", [
    (b"hello", OSError, "cannot identify image file"),
    (None, FileNotFoundError, "No such file"),
])
def test_read_image_errors(tmp_path, content, error, match):
    path = tmp_path / "x.png"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(error, match=match):
        predict.read_image(path)


# Probabilities

def test_predict_proba_is_the_softmax_of_the_scores_in_evaluation_mode(model_path, digits):
    classifier = load_classifier(model_path)
    classifier.model.train() if hasattr(classifier.model, "train") else None
    probabilities = predict.predict_proba(classifier, digits[:40], batch_size=16)
    assert probabilities.shape == (40, 10) and probabilities.dtype == np.float64
    np.testing.assert_allclose(probabilities.sum(axis=1), 1, rtol=1e-12)
    # Other batch sizes are other BLAS paths (tests/blas.py): the same probabilities up to float32 rounding of the
    # scores, which moves a probability by about its score's magnitude times 5e-7 relative.
    assert_same_predictions(classifier.predict(digits[:40]), probabilities, rtol=1e-4)
    np.testing.assert_allclose(predict.predict_proba(classifier, digits[:40], batch_size=40), probabilities,
                               rtol=1e-4, atol=1e-6)
    for k in (0, 7):
        assert probabilities[k].max() == pytest.approx(expected_prediction(classifier, digits[k])[1], rel=1e-4)
    assert getattr(classifier.model, "training", True) is True  # the mode found is put back
    assert len(set(classifier.predict(digits))) > 1  # a model that tells digits apart


def test_softmax_is_stable_for_large_scores():
    np.testing.assert_allclose(predict.softmax(np.array([[1000.0, 1000.0], [0.0, -1e4]])), [[0.5, 0.5], [1, 0]])


# The command line

def test_cli_classifies_every_mode_and_size_as_the_classifier_does(model_path, digits, tmp_path, capsys):
    files = write_images(tmp_path / "images", digits)
    code, stdout, stderr = run_main(["--model", str(model_path), *files], capsys)
    assert code == 0 and stderr == ""
    classifier = load_classifier(model_path)
    rows = parse(stdout)
    assert [path for path, _ in rows] == list(files)
    for (path, ranked), pixels in zip(rows, files.values()):
        digit, probability = expected_prediction(classifier, pixels)
        assert ranked[0][0] == digit, path
        assert ranked[0][1] == pytest.approx(probability, abs=6e-5), path
        assert len(ranked) == 1


def test_cli_top_k_lists_the_best_digits_first(model_path, digits, tmp_path, capsys):
    files = write_images(tmp_path / "images", digits)
    code, stdout, _ = run_main(["--model", str(model_path), "--top", "3", *files], capsys)
    assert code == 0
    _, top1, _ = run_main(["--model", str(model_path), *files], capsys)
    classifier = load_classifier(model_path)
    for (_, ranked), (_, best), pixels in zip(parse(stdout), parse(top1), files.values()):
        assert len(ranked) == 3 and len({digit for digit, _ in ranked}) == 3
        assert ranked[0] == best[0]
        assert [p for _, p in ranked] == sorted((p for _, p in ranked), reverse=True)
        probabilities = predict.predict_proba(classifier, np.clip(predict.resize(pixels, 32, 32), 0, 255))[0]
        assert [digit for digit, _ in ranked] == list(np.argsort(-probabilities, kind="stable")[:3])
        np.testing.assert_allclose([p for _, p in ranked], np.sort(probabilities)[::-1][:3], atol=6e-5)
    code, stdout, _ = run_main(["--model", str(model_path), "--top", "10", *list(files)[:1]], capsys)
    assert sum(p for _, p in parse(stdout)[0][1]) == pytest.approx(1, abs=6e-4)


def test_cli_walks_a_folder_in_order_keeping_only_images(model_path, digits, tmp_path, capsys):
    files = write_images(tmp_path / "images", digits)
    (tmp_path / "images" / "notes.txt").write_text("not an image")
    (tmp_path / "images" / "sub.png").mkdir()
    (tmp_path / "images" / "sub.png" / "inside.png").write_bytes(b"")
    code, stdout, stderr = run_main(["--model", str(model_path), str(tmp_path / "images"), "--batch-size", "2"],
                                    capsys)
    assert code == 0 and stderr == ""
    paths = [path for path, _ in parse(stdout)]
    assert paths == sorted(files) and [os.path.basename(path) for path in paths][-1] == "f_upper.PNG"
    _, one_by_one, _ = run_main(["--model", str(model_path), *files], capsys)
    assert stdout == one_by_one  # the batch size changes nothing


def test_cli_folders_and_names_take_the_same_extensions(model_path, digits, tmp_path, capsys):
    folder = tmp_path / "images"
    folder.mkdir()
    for k, extension in enumerate(FORMATS.split("/")):
        Image.fromarray(upscale(digits[k], 40, 30)).save(folder / f"{k}{extension.upper() if k % 2 else extension}")
    Image.fromarray(digits[9]).save(tmp_path / "png_inside.avif", format="PNG")
    Image.fromarray(digits[9]).save(folder / "png_inside.avif", format="PNG")
    code, stdout, stderr = run_main(["--model", str(model_path), str(folder)], capsys)
    images = sorted(str(path) for path in folder.iterdir() if path.suffix != ".avif")
    assert code == 0 and stderr == "" and [path for path, _ in parse(stdout)] == images
    code, by_name, stderr = run_main(["--model", str(model_path), *images, str(tmp_path / "png_inside.avif")], capsys)
    assert code == 2 and by_name == stdout
    assert stderr.splitlines()[0] == (f"predict.py: error: cannot read {tmp_path / 'png_inside.avif'}: "
                                      f"not a {FORMATS} file")


def test_help_lists_the_extensions_read():
    assert FORMATS in " ".join(predict._parser().format_help().split())
    assert f"`{FORMATS}`" in " ".join((ROOT / "docs" / "training.md").read_text().split())


def test_cli_reports_each_bad_file_and_classifies_the_others(model_path, digits, tmp_path, capsys):
    files = write_images(tmp_path / "images", digits)
    good = list(files)[:2]
    (tmp_path / "text.png").write_text("not an image")
    (tmp_path / "notes.txt").write_text("not an image")
    jpeg = Path(good[0]).with_suffix(".jpg")
    matplotlib.image.imsave(jpeg, digits[0])
    (tmp_path / "cut.jpg").write_bytes(jpeg.read_bytes()[:300])
    (tmp_path / "empty").mkdir()
    argv = ["--model", str(model_path), good[0], str(tmp_path / "text.png"), str(tmp_path / "notes.txt"),
            str(tmp_path / "missing.png"), str(tmp_path / "cut.jpg"), str(tmp_path / "empty"), good[1]]
    code, stdout, stderr = run_main(argv, capsys)
    assert code == 2
    assert [path for path, _ in parse(stdout)] == good
    assert stderr.splitlines() == [
        f"predict.py: error: cannot read {tmp_path / 'text.png'}: not an image (Pillow cannot identify it)",
        f"predict.py: error: cannot read {tmp_path / 'notes.txt'}: not a {FORMATS} file",
        f"predict.py: error: cannot read {tmp_path / 'missing.png'}: no such file or folder",
        f"predict.py: error: cannot read {tmp_path / 'cut.jpg'}: Truncated File Read",
        f"predict.py: error: cannot read {tmp_path / 'empty'}: a folder without {FORMATS} files",
        "predict.py: 5 of 7 files could not be classified (see above)",
    ]


def test_cli_refuses_a_model_without_preprocessing(tmp_path, digits, capsys):
    save_model(ConvNet((32, 32, 3), 10, 2, 2, seed=0), tmp_path / "bare.npz")
    matplotlib.image.imsave(tmp_path / "a.png", digits[0])
    code, stdout, stderr = run_main(["--model", str(tmp_path / "bare.npz"), str(tmp_path / "a.png")], capsys)
    assert code == 2 and stdout == ""
    assert stderr == (f"predict.py: error: --model {tmp_path / 'bare.npz'} holds no preprocessing (scale and mean "
                      f"image): give the model.npz of a train.py run, or a checkpoint saved with save_model(..., "
                      f"preprocessing=...) (see --help)\n")


@pytest.mark.parametrize("argv, match", [
    (["--model", "{tmp}/none.npz", "a.png"], "--model {tmp}/none.npz: no such file or directory"),
    (["--model", "{tmp}", "a.png"], "--model {tmp}: is a directory"),
    (["--model", "{tmp}/a.png", "a.png"], "--model {tmp}/a.png: {tmp}/a.png is not a checkpoint of this package"),
    (["--model", "{model}", "a.png", "--top", "11"], "--top must be at most the model's 10 classes, got 11"),
    (["--model", "{model}", "a.png", "--top", "0"], "argument --top: must be a positive integer, got '0'"),
    (["--model", "{model}", "a.png", "--batch-size", "x"], "argument --batch-size: must be a positive integer"),
    (["a.png"], "the following arguments are required: --model"),
    (["--model", "{model}"], "the following arguments are required: IMAGE_OR_FOLDER"),
])
def test_cli_bad_arguments_exit_2_with_one_line(model_path, tmp_path, digits, capsys, argv, match):
    matplotlib.image.imsave(tmp_path / "a.png", digits[0])
    argv = [arg.format(tmp=tmp_path, model=model_path) for arg in argv]
    code, stdout, stderr = run_main(argv, capsys)
    assert code == 2 and stdout == ""
    assert stderr.startswith("predict.py: error: ") and stderr.endswith("(see --help)\n")
    assert stderr.count("\n") == 1
    assert match.format(tmp=tmp_path) in stderr, stderr


def test_cli_interrupted_exits_130(model_path, digits, tmp_path, capsys, monkeypatch):
    matplotlib.image.imsave(tmp_path / "a.png", digits[0])

    def interrupt(path):
        raise KeyboardInterrupt

    monkeypatch.setattr(predict, "read_image", interrupt)
    code, _, stderr = run_main(["--model", str(model_path), str(tmp_path / "a.png")], capsys)
    assert code == 130 and stderr == "predict.py: interrupted\n"


def test_cli_as_a_script(model_path, digits, tmp_path):
    matplotlib.image.imsave(tmp_path / "a.png", digits[0])
    result = subprocess.run([sys.executable, str(ROOT / "predict.py"), "--model", str(model_path), "a.png",
                             "--top", "2"], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert result.returncode == 0 and result.stderr == ""
    (path, ranked), = parse(result.stdout)
    assert path == "a.png" and len(ranked) == 2
    assert ranked[0][0] == load_classifier(model_path).predict(digits[0])[0]

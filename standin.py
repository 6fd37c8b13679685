"""An offline stand-in for SVHN: synthetic house-number crops written in exactly SVHN's `.mat` format.

The machines this project runs on cannot reach SVHN's host, so the notebook and the tests run on these files
instead. Each image is a digit rendered from one of the fonts matplotlib ships, with parts of its neighbours cut
at the left and right edges as in SVHN's crops, random colours, scale, shift, slight rotation and shear, uneven
lighting, blur and noise. The files carry an extra variable `standin` so that `dataset.load_svhn` can warn that
numbers measured on them are not SVHN results. Files that standin.py did not make (the real SVHN files of
`./download_data.sh`, or anything unreadable) are never replaced unless asked with `force=True` / `--force`.

Usage::

    python standin.py data [--train 12000] [--test 2000] [--seed 0] [--force]
"""
import argparse
import functools
import os
import sys
import time

import matplotlib
import numpy as np
import scipy.io
from matplotlib.ft2font import FT2Font
from scipy import ndimage

from atomic import atomic_write
from dataset import STANDIN_KEY, has_standin_marker
from validation import check_int, check_rng, int_at_least

STANDIN_NOTE = "synthetic stand-in for SVHN, not real data (made by standin.py)"
TRAIN_FILE = "train_32x32.mat"
TEST_FILE = "test_32x32.mat"
SIZE = 32
SUPERSAMPLE = 2
FONT_FILES = (
    "DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSansMono.ttf", "DejaVuSansMono-Bold.ttf",
    "DejaVuSerif.ttf", "DejaVuSerif-Bold.ttf", "STIXGeneral.ttf", "STIXGeneralBol.ttf",
    "cmr10.ttf", "cmss10.ttf", "cmb10.ttf", "cmtt10.ttf",
)
GLYPH_POINTS = 64
MIN_CONTRAST = 70.0


def make_standin(folder, n_train=12000, n_test=2000, seed=0, *, force=False):
    """Write `train_32x32.mat` and `test_32x32.mat` of synthetic house-number crops into `folder`.

    The files have SVHN's variables, shapes and dtypes plus the marker variable `standin`. Each file is written
    to a temporary name in `folder` and moved into place when complete. The test images do not depend on
    `n_train`: the two sets come from independent streams of the same seed.

    Parameters
    ----------
    folder : str or os.PathLike
        Created when missing.
    n_train, n_test : int
        Number of images in each file, at least 1.
    seed : int
        The same seed gives byte-identical arrays.
    force : bool, keyword-only
        Replace files in `folder` that standin.py did not make. Without it, stand-ins are replaced and any other
        file (the real SVHN data, a damaged file) is refused before anything is written.

    Returns
    -------
    (train_path, test_path) : tuple of str

    Raises
    ------
    FileExistsError
        When a file to replace is not a stand-in and `force` is False.
    NotADirectoryError, IsADirectoryError
        When `folder` is a file, or a directory stands where a file goes.
    """
    n_train = check_int(n_train, "n_train", 1)
    n_test = check_int(n_test, "n_test", 1)
    seed = check_int(seed, "seed", 0)
    paths = _paths(folder)
    _check_replaceable(paths, force, advice="pass force=True to replace it anyway")
    train_seed, test_seed = np.random.SeedSequence(seed).spawn(2)
    os.makedirs(folder, exist_ok=True)
    for path, n, stream in zip(paths, (n_train, n_test), (train_seed, test_seed)):
        X, y = synthesize(n, np.random.default_rng(stream))
        # The marker first, so that a copy cut short is still known as a stand-in (dataset.has_standin_marker).
        _save_mat_atomically(path, {STANDIN_KEY: STANDIN_NOTE, "X": X, "y": y})
    return paths


def synthesize(n, seed=0):
    """Make `n` synthetic house-number crops in SVHN's layout, with balanced labels.

    Parameters
    ----------
    n : int
        Number of images, at least 1.
    seed : None, int or numpy.random.Generator

    Returns
    -------
    X : ndarray of shape (32, 32, 3, n), uint8
        RGB images, the sample axis last as in SVHN's files.
    y : ndarray of shape (n, 1), uint8
        Labels 1..10, where 10 stands for the digit 0; every digit appears n // 10 or n // 10 + 1 times.
    """
    n = check_int(n, "n", 1)
    rng = check_rng(seed)
    fonts = _glyph_masks()
    digits = rng.permutation(np.arange(n) % 10)
    font = rng.integers(len(fonts), size=n)
    neighbours = rng.integers(10, size=(n, 2))
    has_neighbour = rng.random((n, 2)) < 0.85
    gaps = rng.uniform(0.05, 0.35, size=(n, 2))
    height = rng.uniform(0.55, 0.9, size=n)
    aspect = rng.uniform(0.8, 1.25, size=n)
    angle = np.deg2rad(np.clip(rng.normal(0.0, 4.0, size=n), -10.0, 10.0))
    shear = rng.uniform(-0.15, 0.15, size=n)
    shift = rng.uniform(-2.0, 2.0, size=(n, 2))
    blur = rng.uniform(0.3, 1.1, size=n)
    noise = rng.uniform(2.0, 10.0, size=n)
    background, foreground = _colour_pairs(rng, n)
    lighting = _lighting(rng, n)

    X = np.empty((n, SIZE, SIZE, 3), dtype=np.uint8)
    for i in range(n):
        glyphs = fonts[font[i]]
        strip, centre = _strip(glyphs, digits[i], neighbours[i], has_neighbour[i], gaps[i])
        mask = _place(strip, centre, height[i], aspect[i], angle[i], shear[i], shift[i])
        mask = ndimage.gaussian_filter(mask, blur[i])
        # The two colours mix linearly in the mask, so blurring the mask blurs the image.
        image = background[i] + (foreground[i] - background[i]) * mask[:, :, None]
        image = image * lighting[i][:, :, None] + rng.normal(0.0, noise[i], size=image.shape)
        X[i] = np.clip(np.rint(image), 0, 255)
    labels = np.where(digits == 0, 10, digits).astype(np.uint8)
    # (n, 32, 32, 3) -> (32, 32, 3, n), SVHN's layout
    return np.ascontiguousarray(np.moveaxis(X, 0, -1)), labels[:, None]


@functools.lru_cache(maxsize=1)
def _glyph_masks():
    """Render the digits 0..9 of every font once: a list over fonts of 10 float32 masks in [0, 1].

    The masks of one font share their height (ink centred vertically) and are cropped to their ink horizontally.
    """
    folder = os.path.join(matplotlib.get_data_path(), "fonts", "ttf")
    paths = [os.path.join(folder, name) for name in FONT_FILES if os.path.exists(os.path.join(folder, name))]
    if not paths:
        raise FileNotFoundError(f"none of matplotlib's fonts {', '.join(FONT_FILES)} found in {folder}")
    fonts = []
    for path in paths:
        face = FT2Font(path)
        face.set_size(GLYPH_POINTS, 72)
        glyphs = []
        for digit in "0123456789":
            face.set_text(digit)
            face.draw_glyphs_to_bitmap()
            bitmap = np.asarray(face.get_image())
            rows, cols = np.nonzero(bitmap.max(axis=1))[0], np.nonzero(bitmap.max(axis=0))[0]
            glyphs.append(bitmap[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1].astype(np.float32) / 255)
        height = max(glyph.shape[0] for glyph in glyphs)
        fonts.append([_pad_rows(glyph, height) for glyph in glyphs])
    return fonts


def _pad_rows(glyph, height):
    """Centre `glyph` of shape (h, w) vertically in `height` rows."""
    top = (height - glyph.shape[0]) // 2
    return np.pad(glyph, ((top, height - glyph.shape[0] - top), (0, 0)))


def _strip(glyphs, digit, neighbours, has_neighbour, gaps):
    """Lay out [left neighbour, gap, digit, gap, right neighbour] as one mask of shape (height, width).

    Returns the mask and the (row, col) centre of the middle digit in it. A missing neighbour leaves blank space.
    """
    middle = glyphs[digit]
    height = middle.shape[0]
    left, right = (glyphs[neighbours[side]] * has_neighbour[side] for side in (0, 1))
    left_gap, right_gap = (np.zeros((height, int(round(gap * height))), dtype=np.float32) for gap in gaps)
    strip = np.concatenate([left, left_gap, middle, right_gap, right], axis=1)
    return strip, ((height - 1) / 2, left.shape[1] + left_gap.shape[1] + (middle.shape[1] - 1) / 2)


def _place(strip, centre, height, aspect, angle, shear, shift):
    """Map `strip` into a (32, 32) mask: its middle digit `height` of the image tall, near the centre.

    The mask is sampled at SUPERSAMPLE times the resolution and averaged down, which anti-aliases the edges.
    """
    size = SIZE * SUPERSAMPLE
    scale = height * size / strip.shape[0]
    cos, sin = np.cos(angle), np.sin(angle)
    # Strip (row, col) offsets from the digit's centre to image offsets: stretch columns, shear, rotate, scale.
    forward = scale * np.array([[cos, -sin], [sin, cos]]) @ np.array([[1.0, 0.0], [shear, 1.0]]) \
        @ np.diag([1.0, aspect])
    inverse = np.linalg.inv(forward)
    image_centre = (size - 1) / 2 + SUPERSAMPLE * np.asarray(shift)
    offset = np.asarray(centre) - inverse @ image_centre
    fine = ndimage.affine_transform(strip, inverse, offset, output_shape=(size, size), order=1)
    # (64, 64) -> (32, 2, 32, 2) -> (32, 32)
    return fine.reshape(SIZE, SUPERSAMPLE, SIZE, SUPERSAMPLE).mean(axis=(1, 3))


def _colour_pairs(rng, n):
    """Draw `n` (background, foreground) RGB pairs whose luminances differ by at least MIN_CONTRAST.

    Returns two float arrays of shape (n, 3) in [0, 255]. Colours are partly desaturated towards grey, as
    painted house numbers mostly are.
    """
    background, foreground = np.empty((n, 3)), np.empty((n, 3))
    todo = np.arange(n)
    while todo.size:
        pair = rng.uniform(0, 255, size=(todo.size, 2, 3))
        grey = _luminance(pair)[..., None]
        pair = grey + rng.uniform(0.1, 0.8, size=(todo.size, 2, 1)) * (pair - grey)
        ok = np.abs(_luminance(pair[:, 0]) - _luminance(pair[:, 1])) >= MIN_CONTRAST
        background[todo[ok]], foreground[todo[ok]] = pair[ok, 0], pair[ok, 1]
        todo = todo[~ok]
    return background, foreground


def _luminance(rgb):
    """Luma of RGB colours of shape (..., 3): shape (...)."""
    return rgb @ np.array([0.299, 0.587, 0.114])


def _lighting(rng, n):
    """Uneven lighting: `n` multiplicative linear ramps of shape (n, 32, 32), between 0.7 and 1.3."""
    strength = rng.uniform(0.0, 0.3, size=n)
    direction = rng.uniform(0.0, 2 * np.pi, size=n)
    coords = (np.arange(SIZE) - (SIZE - 1) / 2) / (SIZE / 2)
    rows, cols = coords[:, None], coords[None, :]
    ramp = np.cos(direction)[:, None, None] * cols + np.sin(direction)[:, None, None] * rows
    return 1.0 + strength[:, None, None] * ramp


def _paths(folder):
    """(train_path, test_path) in `folder`, after checking that `folder` is not a file."""
    if not isinstance(folder, (str, os.PathLike)):
        raise TypeError(f"`folder` must be a str or os.PathLike, got {type(folder).__name__}")
    if os.path.exists(folder) and not os.path.isdir(folder):
        raise NotADirectoryError(f"`folder` must be a folder, got the file {os.fspath(folder)}")
    return os.path.join(folder, TRAIN_FILE), os.path.join(folder, TEST_FILE)


def _check_replaceable(paths, force=False, advice="pass force=True to replace it anyway"):
    """Raise unless every file in `paths` is missing or a stand-in (any file when `force`); `advice` ends the
    message of a refusal."""
    for path in paths:
        if os.path.isdir(path):
            raise IsADirectoryError(f"{path} is a directory; move it away to write the stand-in file there")
        if not force and os.path.lexists(path) and not has_standin_marker(path):
            raise FileExistsError(f"{path} is not a stand-in made by standin.py (it may be the real SVHN file): "
                                  f"refusing to replace it; {advice}")


def _save_mat_atomically(path, variables):
    """Write a MATLAB v5 file to a temporary name next to `path`, then move it into place."""
    with atomic_write(path) as file:
        scipy.io.savemat(file, variables)



def main(argv=None):
    """Command line entry: `python standin.py FOLDER [--train N] [--test N] [--seed S] [--force]`.

    Returns 0; bad arguments, a FOLDER that is a file and files it did not make exit with code 2.
    """
    parser = argparse.ArgumentParser(
        prog="standin.py",
        description="Write a synthetic stand-in for SVHN (train_32x32.mat, test_32x32.mat) into FOLDER.")
    parser.add_argument("folder", help="where to write the two files, e.g. data")
    parser.add_argument("--train", type=int_at_least(1), default=12000, help="training images (default 12000)")
    parser.add_argument("--test", type=int_at_least(1), default=2000, help="test images (default 2000)")
    parser.add_argument("--seed", type=int_at_least(0), default=0, help="random seed (default 0)")
    parser.add_argument("--force", action="store_true",
                        help="replace files standin.py did not make, such as the real SVHN files")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    try:
        if os.path.exists(args.folder) and not os.path.isdir(args.folder):
            raise NotADirectoryError(f"{args.folder} is a file; give a folder to write {TRAIN_FILE} and "
                                     f"{TEST_FILE} into")
        _check_replaceable(_paths(args.folder), args.force, advice="add --force to replace it anyway")
        train_path, test_path = make_standin(args.folder, args.train, args.test, args.seed, force=args.force)
    except OSError as error:
        parser.exit(2, f"{parser.prog}: error: {error}\n")
    print(f"wrote {train_path} ({args.train} images) and {test_path} ({args.test} images) "
          f"in {time.perf_counter() - start:.1f} s: a synthetic stand-in for SVHN, not real data")
    return 0


if __name__ == "__main__":
    sys.exit(main())

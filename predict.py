"""Classify your own pictures of digits with a model trained by train.py.

Usage::

    python predict.py --model runs/first/model.npz photo.png more/photos/ [--top 3] [--crop none] [--batch-size 256]

Each argument is an image file or a folder; a folder stands for its image files (not its sub-folders), in sorted
order. Image files are those ending in one of `IMAGE_EXTENSIONS`, .png/.jpg/.jpeg/.gif/.webp/.bmp/.tif/.tiff (any
case; the first frame of an animation), whether given by name or found in a folder. Every image becomes what the
model was trained on:

- read by Pillow and turned upright as its EXIF orientation says (phone photos), then converted by matplotlib's
  reader (`matplotlib.image.pil_to_array`) and brought to pixel values in [0, 255] (floats times 255, integers
  times 255 / their dtype's maximum);
- reduced while read when its shorter side is at least 1024 pixels, by a whole factor that keeps that side at least
  `WORKING_SIDE` (512) long: a JPEG decoded at 1/2, 1/4 or 1/8 of its size, any image averaged over blocks. A
  6000x6000 PNG then takes 2.8 s and 243 MB instead of 11.7 s and 2.6 GB, a 6000x4000 JPEG 2.4 s and 193 MB
  instead of 4.7 s and 1.8 GB (`/usr/bin/time -v`, this 2-core machine; a 32x32 PNG takes 1.7 s and 88 MB).
  An image of more than `PIL.Image.MAX_IMAGE_PIXELS` pixels (89,478,485, e.g. 9459x9459) is refused as a possible
  decompression bomb;
- transparent pixels put on white, as image viewers show them (a digit drawn in an app is often black strokes on
  a transparent canvas whose hidden colour is black too); greyscale repeated into three channels;
- a digit on a plain background (a drawing, a scan of handwriting) cropped by `crop_to_digit` to a square window in
  which it is as tall as the digits of SVHN's crops; any other picture is left whole (`--crop none`: never);
- resized to the model's input size (32x32 for SVHN) by `resize`: area averaging along an axis that shrinks, linear
  interpolation between pixel centres along one that grows; the aspect ratio is not kept, so crop a photo around
  the digit first, as SVHN's crops are;
- scaled and mean-subtracted with the preprocessing saved in the checkpoint (`checkpoint.load_classifier`), exactly
  as in training.

One line per image on stdout, in order: `path: digit (probability)`, or with `--top K` the K best digits, best
first, `path: 7 (0.9312), 1 (0.0410), 4 (0.0120)`. The probability is the softmax of the model's scores (in
evaluation mode: BatchNorm's running statistics, no dropout). A file that cannot be read gets one line on stderr
naming it; the others are still classified, and the exit code is then 2. An image with nothing to classify
(`nothing_to_classify`: a side shorter than `MIN_SIDE`, 3 pixels, or every value within `UNIFORM_SPREAD`, 2, of
the others: a blank page) is classified all the same and followed by a warning on stderr naming it and why,
`predict.py: warning: blank.png: nothing to classify: the image is uniform`; the exit code stays 0, since every
image was classified. Exit codes: 0 every image classified, 2 a bad argument or model, or an image that could not be
read, 130 interrupted (Ctrl-C).

The steps are importable: `read_image`, `nothing_to_classify`, `to_rgb`, `crop_to_digit`, `resize`,
`predict_proba`, `image_paths`.
"""
import argparse
import os
import sys
import warnings

import matplotlib.image
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from checkpoint import load_classifier, read_preprocessing
from validation import OneLineParser, check_int, int_at_least, one_line, say

# Each read here by the tests: folders stand for these files, and a file given by name must end in one (any case).
PROG = "predict.py"
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".gif", ".webp", ".bmp", ".tif", ".tiff")
BATCH_SIZE = 256
WORKING_SIDE = 512  # pixels: 16 times SVHN's 32, see read_image
DIGIT_HEIGHT = 0.72  # of the window, after crop_to_digit: the stand-in draws digits 0.55-0.9 of the image tall
PLAIN_TOLERANCE = 32.0  # of 255: how far a plain background's pixels may stray from its median colour
MAX_WINDOW = 0.8  # crop_to_digit's window at most this share of the picture's shorter side, or no crop
MIN_SIDE = 3  # pixels: the smallest pixel fonts draw digits 3 wide and 5 tall
UNIFORM_SPREAD = 2.0  # of 255: a blank page saved as JPEG strays by 1 or 2 from its colour


def read_image(path, reduce_to=WORKING_SIDE):
    """Read an image file as RGB pixel values, reduced while reading when it is large.

    An image whose shorter side is at least `2 * reduce_to` pixels is reduced by the largest whole factor that
    keeps that side at least `reduce_to` long: a JPEG while libjpeg decodes it (by 2, 4 or 8, Pillow's `draft`),
    then any image by Pillow's `reduce` (the mean of each factor x factor block, partial blocks at the bottom and
    right edges, alpha premultiplied). Only the decoded image is then held at full size, as bytes.

    Parameters
    ----------
    path : str or os.PathLike
        An image file Pillow reads (the first frame of an animation), turned upright as its EXIF orientation says.
    reduce_to : int >= 1 or None
        The shorter side to reduce to at most (it stays at least that long); None: read at full size.

    Returns
    -------
    ndarray of shape (height, width, 3), float64
        Pixel values in [0, 255], see `to_rgb`; (height, width) is the upright size, reduced.

    Raises
    ------
    OSError
        The file is missing, unreadable, truncated or not an image (Pillow's UnidentifiedImageError is an OSError).
    ValueError
        The file could not be decoded as an image (e.g. a `.png` file that holds something else), or it has more
        than `PIL.Image.MAX_IMAGE_PIXELS` pixels (89,478,485 unless changed); the message says why.
    """
    if reduce_to is not None:
        reduce_to = check_int(reduce_to, "reduce_to", 1)
    try:
        with open(path, "rb") as stream, warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(stream) as file:
                image = matplotlib.image.pil_to_array(_reduced(file, reduce_to))
    except (Image.DecompressionBombWarning, Image.DecompressionBombError):
        raise ValueError(f"more than {Image.MAX_IMAGE_PIXELS:,} pixels (PIL.Image.MAX_IMAGE_PIXELS, Pillow's guard "
                         f"against decompression bombs)") from None
    except SyntaxError as error:  # Pillow's PNG reader says "not a PNG file" this way
        raise ValueError(str(error)) from None
    except RuntimeError as error:
        raise ValueError(str(error)) from None
    return to_rgb(image)


def _reduced(file, reduce_to):
    """The upright image of an open Pillow `file`, reduced as `read_image` says (a new image, or `file` itself)."""
    if reduce_to is not None:
        file.draft(None, (reduce_to, reduce_to))  # JPEG only: sets the decoder's scale, before anything is decoded
    ImageOps.exif_transpose(file, in_place=True)  # no copy when the orientation is already upright
    factor = 1 if reduce_to is None else min(file.size) // reduce_to
    if factor < 2:
        return file
    if file.mode.startswith("I;16"):  # 16-bit grey: reduced as 32-bit integers, kept 16-bit for to_rgb's scale
        return file.convert("I").reduce(factor).convert("I;16")
    image = file if file.mode in ("L", "LA", "RGB", "RGBA", "RGBX") else file.convert("RGBA")  # as pil_to_array
    return image.reduce(factor)


def to_rgb(image):
    """Pixel values in [0, 255] with three colour channels, from what an image reader returns.

    Parameters
    ----------
    image : ndarray of shape (height, width), (height, width, 1), (height, width, 2), (height, width, 3) or
            (height, width, 4)
        Greyscale, greyscale with alpha, RGB or RGBA. Floats are taken to be in [0, 1] (matplotlib's PNG reader);
        integers in [0, max of their dtype] (255 for uint8).

    Returns
    -------
    ndarray of shape (height, width, 3), float64
        `image * 255` for floats, `image * 255 / max` for integers, put over white by its alpha (`colour * alpha +
        255 * (1 - alpha)`, alpha in [0, 1]); grey repeated in every channel.
    """
    image = np.asarray(image)
    if image.ndim == 2:
        image = image[:, :, np.newaxis]
    if image.ndim != 3 or image.shape[2] not in (1, 2, 3, 4) or 0 in image.shape:
        raise ValueError(f"`image` must be (height, width) or (height, width, 1 to 4 channels), got shape "
                         f"{image.shape}")
    if np.issubdtype(image.dtype, np.floating):
        # In the reader's precision: float32(k / 255) * float32(255) gives k back exactly, as it was in the file.
        pixels = (image * image.dtype.type(255)).astype(np.float64)
    elif np.issubdtype(image.dtype, np.integer):
        pixels = image * (255.0 / np.iinfo(image.dtype).max)
    else:
        raise TypeError(f"`image` must hold numbers, got dtype {image.dtype}")
    n_colours = 3 if image.shape[2] >= 3 else 1
    colour = pixels[:, :, :n_colours]
    if image.shape[2] in (2, 4):
        alpha = pixels[:, :, n_colours:] / 255
        colour = colour * alpha + 255 * (1 - alpha)
    return np.broadcast_to(colour, (*image.shape[:2], 3)).copy()


def nothing_to_classify(image):
    """Why an image holds no digit, or None: the line `predict.py` warns with, still classifying the image.

    Parameters
    ----------
    image : ndarray of shape (height, width, 3)
        Pixel values in [0, 255], as `read_image` gives them.

    Returns
    -------
    str or None
        "the image is WIDTHxHEIGHT pixels" when a side is shorter than `MIN_SIDE`; "the image is uniform" when its
        values (every channel) span at most `UNIFORM_SPREAD`; None otherwise.
    """
    height, width = image.shape[:2]
    if min(height, width) < MIN_SIDE:
        return f"the image is {width}x{height} pixels"
    if np.ptp(image) <= UNIFORM_SPREAD:
        return "the image is uniform"
    return None


def crop_to_digit(image):
    """A square window around a digit on a plain background, or the image itself when it is not one.

    The background is the median colour of the image's outermost pixels; it is plain when 95% of them are within
    `PLAIN_TOLERANCE` of it. The ink is every pixel farther from it than half the farthest one (and than the
    tolerance). The window is the square centred on the ink's bounding box in which the box's longer side is
    `DIGIT_HEIGHT` of the window, padded with the background where it leaves the image. There is no crop when the
    ink touches an edge of the image or the window would be more than `MAX_WINDOW` of its shorter side: a picture
    cropped like SVHN's (the digit filling it, neighbouring digits at the edges, uneven light) comes back
    unchanged.

    Parameters
    ----------
    image : ndarray of shape (height, width, 3), float64
        Pixel values in [0, 255], as `read_image` gives them.

    Returns
    -------
    ndarray of shape (side, side, 3), float64, or `image` itself
    """
    border = np.concatenate([image[0], image[-1], image[:, 0], image[:, -1]])   # (2 * (height + width), 3)
    background = np.median(border, axis=0)
    if np.percentile(np.abs(border - background).max(axis=1), 95) > PLAIN_TOLERANCE:
        return image
    distance = np.abs(image - background).max(axis=2)                            # (height, width)
    ink = distance > max(PLAIN_TOLERANCE, distance.max() / 2)
    rows, columns = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    if rows.size == 0 or rows[0] == 0 or columns[0] == 0 or rows[-1] == len(ink) - 1 \
            or columns[-1] == ink.shape[1] - 1:
        return image
    side = round(max(rows[-1] - rows[0] + 1, columns[-1] - columns[0] + 1) / DIGIT_HEIGHT)
    if side > MAX_WINDOW * min(image.shape[:2]):  # the digit already fills the picture: a crop already
        return image
    top = int(round((rows[0] + rows[-1] + 1 - side) / 2))
    left = int(round((columns[0] + columns[-1] + 1 - side) / 2))
    window = np.empty((side, side, 3))
    window[:] = background
    source = image[max(top, 0):top + side, max(left, 0):left + side]
    window[max(-top, 0):max(-top, 0) + source.shape[0], max(-left, 0):max(-left, 0) + source.shape[1]] = source
    return window


def resize(image, height, width):
    """Resize an image to `height` x `width` pixels, each axis on its own.

    Along an axis that shrinks, each new pixel is the mean of the old pixels it covers, weighted by the overlap
    (area averaging: PIL's BOX filter, OpenCV's INTER_AREA), so no detail aliases. Along an axis that grows, each
    new pixel is the linear interpolation of the two old pixels around its centre, centres aligned as in PIL's
    BILINEAR and OpenCV's INTER_LINEAR (edge pixels repeated beyond the border). An axis of the same size is kept
    as it is. Both are linear: a constant image stays constant, values stay within the input's range.

    Parameters
    ----------
    image : ndarray of shape (in_height, in_width, channels)
    height, width : int >= 1

    Returns
    -------
    ndarray of shape (height, width, channels), float64
    """
    image = np.asarray(image, dtype=np.float64)
    if image.ndim != 3:
        raise ValueError(f"`image` must be (height, width, channels), got shape {image.shape}")
    rows = resize_weights(image.shape[0], check_int(height, "height", 1))   # (height, in_height)
    columns = resize_weights(image.shape[1], check_int(width, "width", 1))  # (width, in_width)
    image = np.tensordot(rows, image, axes=(1, 0))                          # (height, in_width, channels)
    return np.einsum("wj,hjc->hwc", columns, image)


def resize_weights(n_in, n_out):
    """The matrix that resizes a row of `n_in` pixels to `n_out` pixels, as `resize` does along one axis.

    Returns
    -------
    ndarray of shape (n_out, n_in), float64
        Non-negative, every row sums to 1. Area averaging when n_out <= n_in: row i holds the overlap of new pixel
        i, the interval [i * n_in / n_out, (i + 1) * n_in / n_out), with each old pixel [j, j + 1), divided by
        n_in / n_out. Linear interpolation when n_out > n_in: row i weighs the two old pixels around
        (i + 0.5) * n_in / n_out - 0.5, clamped to [0, n_in - 1].
    """
    if n_out <= n_in:
        scale = n_in / n_out
        starts, ends = np.arange(n_out)[:, None] * scale, np.arange(1, n_out + 1)[:, None] * scale
        old = np.arange(n_in)[None, :]
        return np.clip(np.minimum(ends, old + 1) - np.maximum(starts, old), 0, None) / scale
    position = np.clip((np.arange(n_out) + 0.5) * n_in / n_out - 0.5, 0, n_in - 1)
    left = np.floor(position).astype(np.int64)
    right = np.minimum(left + 1, n_in - 1)
    fraction = position - left
    weights = np.zeros((n_out, n_in))
    np.add.at(weights, (np.arange(n_out), left), 1 - fraction)
    np.add.at(weights, (np.arange(n_out), right), fraction)
    return weights


def predict_proba(classifier, images, batch_size=BATCH_SIZE):
    """Class probabilities of raw images: the softmax of the model's scores after the saved preprocessing.

    Parameters
    ----------
    classifier : checkpoint.Classifier
        E.g. `checkpoint.load_classifier("runs/first/model.npz")`; its model is a ConvNet or a Sequential.
    images : ndarray of shape (n, height, width, channels) or (height, width, channels)
        Raw pixel values in [0, 255] at the model's input size, as `Classifier.predict` takes them.
    batch_size : int
        Images per forward pass.

    Returns
    -------
    ndarray of shape (n, n_classes), float64
        Every row sums to 1; its largest entry is at `classifier.predict(images)`.
    """
    return softmax(scores(classifier, images, batch_size))


def scores(classifier, images, batch_size=BATCH_SIZE):
    """The model's scores (logits) of raw images, computed in evaluation mode as `predict` computes them.

    Parameters and `images` as for `predict_proba`.

    Returns
    -------
    ndarray of shape (n, n_classes), of the model's dtype
        `scores(...).argmax(axis=1)` equals `classifier.predict(images)`.
    """
    X = classifier.preprocess(images)
    batch_size = check_int(batch_size, "batch_size", 1)
    model = classifier.model
    was_training = getattr(model, "training", False)
    if callable(getattr(model, "eval", None)):
        model.eval()
    try:
        return np.concatenate([model.forward(X[start:start + batch_size])
                               for start in range(0, len(X), batch_size)])
    finally:
        if was_training:
            model.train()


def softmax(scores):
    """Row-wise softmax in float64, stable for large scores: (n, n_classes) -> (n, n_classes)."""
    shifted = np.asarray(scores, dtype=np.float64)
    shifted = shifted - shifted.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


def image_paths(paths):
    """The image files named by `paths`, folders expanded, each with the reason it cannot be used.

    Parameters
    ----------
    paths : list of str
        Files and folders; a folder stands for its files ending in one of `IMAGE_EXTENSIONS` (any case), sorted,
        without descending into sub-folders.

    Returns
    -------
    list of (path, problem)
        In the order given; problem is None, or a short text: a path that does not exist, a folder without
        images, a file whose name does not end in one of `IMAGE_EXTENSIONS`.
    """
    extensions = "/".join(IMAGE_EXTENSIONS)
    found = []
    for path in paths:
        if os.path.isdir(path):
            names = sorted(name for name in os.listdir(path) if name.lower().endswith(IMAGE_EXTENSIONS)
                           and os.path.isfile(os.path.join(path, name)))
            found += [(os.path.join(path, name), None) for name in names]
            if not names:
                found.append((path, f"a folder without {extensions} files"))
        elif not os.path.lexists(path):
            found.append((path, "no such file or folder"))
        elif not path.lower().endswith(IMAGE_EXTENSIONS):
            found.append((path, f"not a {extensions} file"))
        else:
            found.append((path, None))
    return found


def main(argv=None):
    """Command line entry: `python predict.py --model MODEL IMAGE_OR_FOLDER...`, see `--help`.

    Returns 0 when every image was classified, 2 when one could not be read (after classifying the others), 130
    on Ctrl-C. A bad argument or model raises SystemExit(2) after one line on stderr.
    """
    parser = _parser()
    args = parser.parse_args(argv)
    classifier = _load(parser, args.model)
    n_classes, (height, width, channels) = _classes(classifier), classifier.model.input_shape
    if channels != 3:
        parser.error(f"--model {args.model} takes images of {channels} channels; predict.py feeds RGB images")
    if args.top > n_classes:
        parser.error(f"--top must be at most the model's {n_classes} classes, got {args.top}")
    failed = 0
    try:
        items = image_paths(args.images)
        for start in range(0, len(items), args.batch_size):
            failed += _classify(classifier, items[start:start + args.batch_size], (height, width), args.top,
                                args.crop == "auto")
    except KeyboardInterrupt:
        say(PROG, "interrupted")
        return 130
    if failed:
        say(PROG, f"{failed} of {len(items)} files could not be classified (see above)")
        return 2
    return 0


def _classify(classifier, items, size, top, crop):
    """Read, classify and print one batch of (path, problem) items, warning of those with nothing to classify;
    return how many failed."""
    images, paths, reasons, failed = [], [], [], 0
    for path, problem in items:
        if problem is None:
            try:
                # Rounding in the resize can leave a pixel an ulp above 255, which Classifier refuses.
                image = read_image(path)
                images.append(np.clip(resize(crop_to_digit(image) if crop else image, *size), 0, 255))
                paths.append(path)
                reasons.append(nothing_to_classify(image))
                continue
            except (OSError, ValueError) as error:
                problem = _reason(error)
        say(PROG, f"error: cannot read {path}: {problem}")
        failed += 1
    if images:
        batch_scores = scores(classifier, np.stack(images), len(images))
        probabilities = softmax(batch_scores)
        # Ranked by the scores, as model.predict ranks them (rounding in the softmax could make ties).
        ranked = np.argsort(-batch_scores, axis=1, kind="stable")[:, :top]
        for path, best, row, reason in zip(paths, ranked, probabilities, reasons):
            print(f"{path}: " + ", ".join(f"{k} ({row[k]:.4f})" for k in best))
            if reason is not None:
                say(PROG, f"warning: {path}: nothing to classify: {reason}")
    return failed


def _load(parser, path):
    """The classifier saved in `path`, or the parser's one-line error."""
    try:
        if read_preprocessing(path) is None:
            parser.error(f"--model {path} holds no preprocessing (scale and mean image): give the model.npz of a "
                         f"train.py run, or a checkpoint saved with save_model(..., preprocessing=...)")
        return load_classifier(path)
    except (OSError, ValueError, TypeError) as error:
        parser.error(f"--model {path}: {_reason(error)}")


def _reason(error):
    """A short text for an error of `read_image`."""
    if isinstance(error, UnidentifiedImageError):
        return "not an image (Pillow cannot identify it)"
    if isinstance(error, (FileNotFoundError, IsADirectoryError, PermissionError)):
        return error.strerror.lower() if error.strerror else one_line(error)
    return one_line(error)


def _classes(classifier):
    """The number of classes the classifier's model scores."""
    model = classifier.model
    if hasattr(model, "n_output_classes"):
        return model.n_output_classes
    return model.output_shape(model.input_shape)[0]


def _parser():
    parser = OneLineParser(prog=PROG, formatter_class=argparse.ArgumentDefaultsHelpFormatter,
                     description=f"Classify images ({'/'.join(IMAGE_EXTENSIONS)} files) with a model saved by "
                                 "train.py: one line per image, 'path: digit (probability)'. Any size is resized to "
                                 "the model's input (area averaging to shrink, linear interpolation to enlarge; the "
                                 "aspect ratio is not kept), after turning photos upright by their EXIF "
                                 "orientation, putting transparent pixels on white, making grey RGB and cropping a "
                                 "digit on a plain background (see --crop); then the checkpoint's scaling and mean "
                                 "image are applied, as in training. An image whose shorter side is "
                                 f"{2 * WORKING_SIDE} pixels or more is reduced while read to one of {WORKING_SIDE} "
                                 f"to {2 * WORKING_SIDE - 1}; one of more than PIL.Image.MAX_IMAGE_PIXELS pixels is "
                                 "refused.",
                     epilog="Exit codes: 0 every image classified (one too small or too uniform to hold a digit "
                            f"is classified too, with a warning on stderr: a side under {MIN_SIDE} pixels, or all "
                            f"values within {UNIFORM_SPREAD:g} of each other), 2 bad arguments or model, or some "
                            "files could not be read (each named on stderr; the others are classified), 130 "
                            "interrupted.")
    parser.add_argument("--model", required=True,
                        help="a checkpoint with its preprocessing, e.g. runs/NAME/model.npz written by train.py")
    parser.add_argument("images", nargs="+", metavar="IMAGE_OR_FOLDER",
                        help=f"image files, or folders whose {'/'.join(IMAGE_EXTENSIONS)} files (any case) are "
                             f"classified (not recursive)")
    parser.add_argument("--top", type=int_at_least(1), default=1, help="print the K most likely digits, best first")
    parser.add_argument("--crop", choices=("auto", "none"), default="auto",
                        help="auto: a digit on a plain background (a drawing, a scan of handwriting) is cropped to "
                             "a square window in which it is as tall as SVHN's digits; other pictures are left "
                             "whole. none: every picture is resized whole")
    parser.add_argument("--batch-size", type=int_at_least(1), default=BATCH_SIZE,
                        help="images read and classified at a time")
    return parser



if __name__ == "__main__":
    sys.exit(main())

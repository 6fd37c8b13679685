"""Data augmentation for batches of NHWC images, numpy only.

Every transform is a callable object, `transform(X, rng) -> new X`: `X` of shape (batch, height, width, channels),
float32 or float64, and `rng` the caller's `numpy.random.Generator` (required: the global numpy RNG is never used).
The whole batch is transformed at once, with one random draw per image (no Python loop over the images); the
result is a new array of the dtype of `X` (of its shape too, except for `RandomCrop` to another size), and `X` is
never modified. `Trainer(..., transform=...)` calls it on every training batch with the trainer's generator.

Pixel range
-----------
The transforms work on the images as the network sees them: scaled to [0, 1] and minus the training set's mean
image (`dataset.prepare_for_neural_network`), so roughly in [-0.5, 0.5]. Nothing is clipped, since such pixels have
no fixed range.

- Geometry (`RandomShift`, `RandomCrop`, `RandomRotation`, flips) does not depend on the range. Pixels brought in
  from outside the image are `fill="edge"` (the nearest border pixel) or `fill="zero"` (the value 0, which for
  mean-subtracted images is the mean image: an average background).
- `ColorJitter` treats the pixels as linear colour in units of [0, 1]-scaled pixels, per image:
  brightness adds b ~ U(-brightness, brightness) to every value (torchvision multiplies instead, but a factor on
  mean-subtracted values would scale their deviation from the mean image, which is a change of contrast);
  contrast scales the image's deviation from its own mean (over pixels and channels) by c ~ U(max(0, 1 - contrast),
  1 + contrast); saturation scales each pixel's deviation from its grey (the mean of its channels) by
  s ~ U(max(0, 1 - saturation), 1 + saturation); hue rotates each pixel's colour vector about the grey axis
  (1, 1, 1) by h * 360 degrees, h ~ U(-hue, hue), hue <= 0.5 (h = 1/3 turns pure red into pure green, as a hue
  shift of 120 degrees does; grey pixels and each pixel's channel mean are unchanged). Applied in that order, the
  four are one affine map of the colour vector per image: a single batched 3x3 matrix product.
  Compared with jittering the [0, 1] images before the mean image is subtracted, brightness is exact; saturation
  and hue are exact where the mean image is grey; contrast differs by (c - 1) * (mean image - its mean value).
  The differences are small when the mean image is close to a uniform grey, as a photo data set's mean tends to be.

Flips are wrong for digits
--------------------------
`RandomHorizontalFlip` and `RandomVerticalFlip` are kept because choosing augmentations is part of the lesson: a
mirrored 2, 3, 4, 5 or 7 is not a digit, and both flips together (a half turn) swap 6 and 9. Look at
`plots.augmentations(X, augment.from_spec("hflip"))` before training with them. `DIGITS` has none.

DIGITS, the default for digits
------------------------------
`DIGITS` (`from_spec("default")`, `train.py --augment default`) is shift 2 (edge fill), rotation 10 degrees (zero
fill) and `ColorJitter(brightness=0.2, contrast=0.2, saturation=0.2, hue=0.1)`:

- a shift of at most 2 pixels: SVHN crops are centred on the digit's box, but not exactly, and a digit 2 pixels
  off in a 32-pixel image is still that digit, with its neighbours at the edges as in the data;
- a rotation of at most 10 degrees: house numbers are photographed a little tilted; 10 degrees keeps a 1 from
  looking like a 7, and a 6 is a half turn away from a 9;
- moderate colour jitter: lighting changes brightness (+-0.2 of the full range) and contrast (x0.8 to x1.2); paint
  colour is arbitrary and does not make the digit, so saturation (x0.8 to x1.2) and hue (+-36 degrees) vary; a
  low-contrast digit stays visible;
- no flips.

Specification strings
---------------------
`from_spec` builds a `Compose` from text such as "shift:2,rotate:10,color:0.2": see its docstring.
"""
import numbers

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from validation import check_images, check_int, check_number

FILLS = ("edge", "zero")


class Transform:
    """Base of the transforms: checks `X` and `rng`, then calls `_apply(X, rng)`.

    Subclasses set `_arguments`, the names of their constructor arguments, which `config()` and `repr()` echo.
    """

    _arguments = ()

    def __call__(self, X, rng):
        """Return a transformed copy of `X`.

        Parameters
        ----------
        X : ndarray of shape (batch, height, width, channels), float32 or float64
        rng : numpy.random.Generator
            Every random draw comes from it.

        Returns
        -------
        ndarray of shape (batch, height, width, channels) (`RandomCrop`: its size), the dtype of `X`.
        """
        X = check_images(X, "X")
        _check_generator(rng)
        return self._apply(X, rng)

    def config(self):
        """The constructor arguments by name, with the class under "name": JSON-serializable, see `from_config`."""
        return {"name": type(self).__name__, **{name: getattr(self, name) for name in self._arguments}}

    def __repr__(self):
        arguments = ", ".join(f"{name}={getattr(self, name)!r}" for name in self._arguments)
        return f"{type(self).__name__}({arguments})"


class RandomShift(Transform):
    """Translate each image by a random whole number of pixels, up to `max_shift` along each axis.

    The shift of each image is drawn uniformly from [-max_shift, max_shift] for rows and for columns, separately.

    Parameters
    ----------
    max_shift : int >= 0
    fill : {'edge', 'zero'}
        What fills the uncovered border: the nearest pixel of the image, or 0 (the mean image, see the module).
    """

    _arguments = ("max_shift", "fill")

    def __init__(self, max_shift=2, fill="edge"):
        self.max_shift = check_int(max_shift, "max_shift", 0)
        self.fill = _check_fill(fill)

    def _apply(self, X, rng):
        offsets = rng.integers(-self.max_shift, self.max_shift + 1, size=(X.shape[0], 2))
        return shift(X, offsets, self.fill)


class RandomCrop(Transform):
    """Pad each image by `padding` pixels, then cut a `size` window at a random place (torchvision's RandomCrop).

    Parameters
    ----------
    size : int or (int, int)
        Output (height, width); at most the padded size, (height + 2 * padding, width + 2 * padding).
    padding : int >= 0
        Pixels added on every side.
    fill : {'zero', 'edge'}
        The padding: 0 (torchvision's default; the mean image for mean-subtracted images) or the nearest pixel.

    Output shape: (batch, size_height, size_width, channels).
    """

    _arguments = ("size", "padding", "fill")

    def __init__(self, size, padding=0, fill="zero"):
        self.size = _check_size(size)
        self.padding = check_int(padding, "padding", 0)
        self.fill = _check_fill(fill)

    def _apply(self, X, rng):
        padded = (X.shape[1] + 2 * self.padding, X.shape[2] + 2 * self.padding)
        if self.size[0] > padded[0] or self.size[1] > padded[1]:
            raise ValueError(f"`size` {self.size} must fit in the padded images {padded} (`X` of shape {X.shape} "
                             f"with padding {self.padding})")
        room = np.subtract(padded, self.size)
        corners = rng.integers(0, room + 1, size=(X.shape[0], 2))
        return _windows(X, self.padding, self.fill, corners, *self.size)


class RandomRotation(Transform):
    """Rotate each image about its centre by a random angle in [-degrees, degrees], bilinear.

    Positive angles turn the image counter-clockwise as displayed (row 0 at the top), as `scipy.ndimage.rotate`
    and torchvision do.

    Parameters
    ----------
    degrees : float in [0, 180]
    fill : {'zero', 'edge'}
        What the corners uncovered by the turn show: 0 (the mean image) or the nearest border pixel.
    """

    _arguments = ("degrees", "fill")

    def __init__(self, degrees=10.0, fill="zero"):
        self.degrees = check_number(degrees, "degrees", minimum=0, maximum=180)
        self.fill = _check_fill(fill)

    def _apply(self, X, rng):
        return rotate(X, rng.uniform(-self.degrees, self.degrees, size=X.shape[0]), self.fill)


class ColorJitter(Transform):
    """Random brightness, contrast, saturation and hue per image, in that order (see the module for the maths).

    Parameters
    ----------
    brightness : float >= 0
        Added shift b ~ U(-brightness, brightness), in units of [0, 1]-scaled pixels.
    contrast, saturation : float >= 0
        Factors drawn from U(max(0, 1 - value), 1 + value).
    hue : float in [0, 0.5]
        Rotation about the grey axis by h turns, h ~ U(-hue, hue).

    Images need 1 or 3 channels; on one channel, saturation and hue change nothing.
    """

    _arguments = ("brightness", "contrast", "saturation", "hue")

    def __init__(self, brightness=0.0, contrast=0.0, saturation=0.0, hue=0.0):
        self.brightness = check_number(brightness, "brightness", minimum=0)
        self.contrast = check_number(contrast, "contrast", minimum=0)
        self.saturation = check_number(saturation, "saturation", minimum=0)
        self.hue = check_number(hue, "hue", minimum=0, maximum=0.5)

    def _apply(self, X, rng):
        n = X.shape[0]
        return adjust_color(X, brightness=rng.uniform(-self.brightness, self.brightness, size=n),
                            contrast=rng.uniform(max(0.0, 1 - self.contrast), 1 + self.contrast, size=n),
                            saturation=rng.uniform(max(0.0, 1 - self.saturation), 1 + self.saturation, size=n),
                            hue=rng.uniform(-self.hue, self.hue, size=n))


class _RandomFlip(Transform):
    """Base of the flips: mirror each image along `_axis` of X (batch, height, width, channels) with probability
    `p`."""

    _arguments = ("p",)
    _axis = None

    def __init__(self, p=0.5):
        self.p = check_number(p, "p", minimum=0, maximum=1)

    def _apply(self, X, rng):
        flip = rng.random(X.shape[0]) < self.p
        return np.where(flip[:, None, None, None], np.flip(X, axis=self._axis), X)


class RandomHorizontalFlip(_RandomFlip):
    """Mirror each image left to right with probability `p`. Wrong for digits: see the module.

    Parameters
    ----------
    p : float in [0, 1]
    """

    _axis = 2  # width


class RandomVerticalFlip(_RandomFlip):
    """Mirror each image top to bottom with probability `p`. Wrong for digits: see the module.

    Parameters
    ----------
    p : float in [0, 1]
    """

    _axis = 1  # height


class Compose(Transform):
    """Apply `transforms` one after the other, all with the same generator.

    Parameters
    ----------
    transforms : sequence of callables `transform(X, rng) -> X`
        Usually the transforms of this module; `config()` needs every one to have a `config()`.
    """

    def __init__(self, transforms):
        if isinstance(transforms, (str, bytes)) or not hasattr(transforms, "__iter__"):
            raise TypeError(f"`transforms` must be a sequence of transforms, got {type(transforms).__name__}")
        self.transforms = list(transforms)
        for index, transform in enumerate(self.transforms):
            if isinstance(transform, type) or not callable(transform):
                raise TypeError(f"`transforms[{index}]` must be a callable transform(X, rng), e.g. "
                                f"RandomShift(2), got {transform!r}")

    def _apply(self, X, rng):
        if not self.transforms:
            return X.copy()
        X_new = X
        for transform in self.transforms:
            X_new = transform(X_new, rng)
        return X_new

    def config(self):
        """{"name": "Compose", "transforms": [config of each transform]}."""
        missing = [transform for transform in self.transforms if not callable(getattr(transform, "config", None))]
        if missing:
            raise TypeError(f"every transform needs a config() method to describe the Compose, "
                            f"{missing[0]!r} has none")
        return {"name": "Compose", "transforms": [transform.config() for transform in self.transforms]}

    def __repr__(self):
        return f"Compose([{', '.join(map(repr, self.transforms))}])"


def shift(X, offsets, fill="edge"):
    """Translate each image by whole pixels: `out[n, i, j] = X[n, i - offsets[n, 0], j - offsets[n, 1]]`.

    Parameters
    ----------
    X : ndarray of shape (batch, height, width, channels), float32 or float64
    offsets : int array of shape (batch, 2)
        (down, right) per image; negative values move up or left.
    fill : {'edge', 'zero'}
        The uncovered pixels: the nearest pixel of the image, or 0.

    Returns
    -------
    ndarray of shape (batch, height, width, channels), the dtype of X.
    """
    X = check_images(X, "X")
    offsets = np.asarray(offsets)
    if offsets.shape != (X.shape[0], 2) or not np.issubdtype(offsets.dtype, np.integer):
        raise ValueError(f"`offsets` must be integers of shape {(X.shape[0], 2)}, one (down, right) pair per "
                         f"image, got {offsets.dtype} of shape {offsets.shape}")
    padding = int(np.abs(offsets).max(initial=0))
    return _windows(X, padding, _check_fill(fill), padding - offsets, X.shape[1], X.shape[2])


def rotate(X, angles, fill="zero"):
    """Rotate each image about its centre by its own angle, bilinear interpolation.

    The output pixel (i, j) takes the value at the source point (r, c), relative to the centre
    ((height - 1) / 2, (width - 1) / 2): r = j sin(a) + i cos(a), c = j cos(a) - i sin(a). Matches
    `scipy.ndimage.rotate(image, a, reshape=False, order=1)` with mode 'grid-constant' (fill 'zero') or
    'nearest' (fill 'edge').

    Parameters
    ----------
    X : ndarray of shape (batch, height, width, channels), float32 or float64
    angles : float array of shape (batch,), or a float for every image
        Degrees, counter-clockwise as displayed.
    fill : {'zero', 'edge'}
        Value outside the image: 0, or the nearest border pixel.

    The coordinates are computed in the dtype of X: in float32 they carry its rounding, about 1e-5 pixel.

    Returns
    -------
    ndarray of shape (batch, height, width, channels), the dtype of X.
    """
    X = check_images(X, "X")
    angles = _per_image(angles, "angles", X.shape[0])
    fill = _check_fill(fill)
    _, height, width, _ = X.shape
    real = X.dtype.type  # coordinates in the images' dtype: float32 stays float32 and allocates half as much
    radians = np.deg2rad(angles)
    cos, sin = (np.cos(radians).astype(X.dtype)[:, None, None], np.sin(radians).astype(X.dtype)[:, None, None])
    i = (np.arange(height, dtype=X.dtype) - real((height - 1) / 2))[None, :, None]  # (1, height, 1)
    j = (np.arange(width, dtype=X.dtype) - real((width - 1) / 2))[None, None, :]  # (1, 1, width)
    rows = j * sin + (i * cos + real((height - 1) / 2))  # (batch, height, width)
    cols = j * cos - (i * sin - real((width - 1) / 2))
    return _bilinear(X, rows, cols, fill)


def adjust_color(X, brightness=0.0, contrast=1.0, saturation=1.0, hue=0.0):
    """Brightness, contrast, saturation and hue of each image, with given values (see the module).

    With b, c, s, h the image's values, every pixel's colour vector x becomes
    `c * R(h) @ S(s) @ x + (b + (1 - c) * mean(X[n])) * (1, 1, 1)`, where S(s) = s I + (1 - s) P scales the
    deviation from grey (P projects on the grey axis), R(h) turns about the grey axis by h turns, and mean(X[n])
    is the image's mean over pixels and channels. The identity is b = 0, c = 1, s = 1, h = 0.

    Parameters
    ----------
    X : ndarray of shape (batch, height, width, channels), float32 or float64, 1 or 3 channels
    brightness, contrast, saturation, hue : float, or float array of shape (batch,)

    Returns
    -------
    ndarray of shape (batch, height, width, channels), the dtype of X.
    """
    X = check_images(X, "X")
    batch, channels = X.shape[0], X.shape[3]
    if channels not in (1, 3):
        raise ValueError(f"`X` must have 1 or 3 channels for colour changes, got {channels} (shape {X.shape})")
    b, c, s, h = (_per_image(value, name, batch) for value, name in
                  ((brightness, "brightness"), (contrast, "contrast"), (saturation, "saturation"), (hue, "hue")))
    if channels == 1:
        matrices = c[:, None, None]  # (batch, 1, 1)
    else:
        grey = np.full((3, 3), 1 / 3)
        saturate = s[:, None, None] * np.eye(3) + (1 - s)[:, None, None] * grey  # (batch, 3, 3)
        matrices = c[:, None, None] * (_hue_rotation(h) @ saturate)
    offsets = b + (1 - c) * X.mean(axis=(1, 2, 3), dtype=np.float64)  # (batch,)
    # (batch, height * width, channels) @ (batch, channels, channels): each row is a pixel's colour vector
    out = X.reshape(batch, -1, channels) @ matrices.transpose(0, 2, 1).astype(X.dtype)
    out += offsets.astype(X.dtype)[:, None, None]
    return out.reshape(X.shape)


SPEC_USAGE = ("default, none, shift[:MAX_SHIFT[:FILL]], crop:SIZE[:PADDING[:FILL]], rotate[:DEGREES[:FILL]], "
              "color[:STRENGTH] or color:BRIGHTNESS:CONTRAST:SATURATION:HUE, hflip[:P], vflip[:P]")


def from_spec(text):
    """A `Compose` from a comma-separated list, e.g. "shift:2,rotate:10,color:0.2" (for `train.py --augment`).

    Items, applied in the order given (FILL is 'edge' or 'zero'):

    - `default`: the transforms of `DIGITS`; `none`: nothing (an empty list is the identity);
    - `shift[:MAX_SHIFT[:FILL]]`: `RandomShift`, 2 pixels by default;
    - `crop:SIZE[:PADDING[:FILL]]`: `RandomCrop(SIZE, PADDING)`, e.g. `crop:32:4`;
    - `rotate[:DEGREES[:FILL]]`: `RandomRotation`, 10 degrees by default;
    - `color[:STRENGTH]`: `ColorJitter` with brightness, contrast, saturation and hue all STRENGTH (so at most
      0.5); `color:B:C:S:H` gives each; `color` alone is DIGITS' jitter;
    - `hflip[:P]`, `vflip[:P]`: the flips, P = 0.5 by default.

    Parameters
    ----------
    text : str

    Returns
    -------
    Compose

    Raises
    ------
    TypeError
        `text` is not a str.
    ValueError
        An unknown item or a bad value; the message names `augment` and the item.
    """
    if not isinstance(text, str):
        raise TypeError(f"`augment` must be a str such as 'shift:2,rotate:10', got {type(text).__name__}")
    items = [item.strip() for item in text.split(",")]
    if items == ["none"]:
        return Compose([])
    if "" in items or "none" in items:
        raise ValueError(f"`augment` must be 'none' or a comma-separated list of {SPEC_USAGE}, "
                         f"without empty items, got {text!r}")
    transforms = []
    for item in items:
        transforms.extend(DIGITS.transforms if item == "default" else [_parse_item(item, text)])
    return Compose(transforms)


def from_config(config):
    """Rebuild a transform or a `Compose` from its `config()`."""
    if not isinstance(config, dict) or config.get("name") not in _CLASSES:
        raise ValueError(f"`config` must be the config() of one of {', '.join(_CLASSES)}, got {config!r}")
    arguments = {key: value for key, value in config.items() if key != "name"}
    if config["name"] == "Compose":
        return Compose([from_config(item) for item in arguments.get("transforms", [])])
    return _CLASSES[config["name"]](**arguments)


_CLASSES = {cls.__name__: cls for cls in (RandomShift, RandomCrop, RandomRotation, ColorJitter, RandomHorizontalFlip,
                                          RandomVerticalFlip, Compose)}


def _color_from_spec(*strengths):
    """`ColorJitter` from the values of a color item: none (DIGITS' jitter), one for all four, or four."""
    if not strengths:
        return _DIGITS_JITTER
    if len(strengths) == 1:
        strengths *= 4
    if len(strengths) != 4:
        raise ValueError(f"color takes 1 or 4 values (STRENGTH or BRIGHTNESS:CONTRAST:SATURATION:HUE), "
                         f"got {len(strengths)}")
    return ColorJitter(*strengths)


# item name -> (factory, [(argument, parser)], number of required values); parsers turn text into the type
_SPECS = {
    "shift": (RandomShift, [("max_shift", int), ("fill", str)], 0),
    "crop": (RandomCrop, [("size", int), ("padding", int), ("fill", str)], 1),
    "rotate": (RandomRotation, [("degrees", float), ("fill", str)], 0),
    "color": (_color_from_spec, [("strength", float)] * 4, 0),
    "hflip": (RandomHorizontalFlip, [("p", float)], 0),
    "vflip": (RandomVerticalFlip, [("p", float)], 0),
}


def _parse_item(item, text):
    """One transform from an item of `from_spec`, e.g. 'rotate:10'; errors name `augment`, the item and the text."""
    name, *values = item.split(":")
    where = f"item {item!r} of {text!r}"
    if name not in _SPECS:
        raise ValueError(f"`augment` {where} is unknown: each item must be one of {SPEC_USAGE}")
    factory, parameters, required = _SPECS[name]
    if not required <= len(values) <= len(parameters):
        raise ValueError(f"`augment` {where} has {len(values)} values, {name} takes {required} to "
                         f"{len(parameters)} (items: {SPEC_USAGE})")
    arguments = []
    for value, (argument, parse) in zip(values, parameters):
        try:
            arguments.append(parse(value))
        except ValueError:
            kind = "an integer" if parse is int else "a number"
            raise ValueError(f"`augment` {where}: {argument} must be {kind}, got {value!r}") from None
    try:
        return factory(*arguments)
    except (TypeError, ValueError) as error:
        raise ValueError(f"`augment` {where}: {error}") from None


def _windows(X, padding, fill, corners, height, width):
    """Windows of (height, width) pixels cut from each image padded by `padding`, at `corners` (batch, 2).

    `corners[n]` is the (row, column) of the window's top-left pixel in the padded image of X[n].
    Returns an array of shape (batch, height, width, channels).
    """
    # (batch, H + 2p - height + 1, W + 2p - width + 1, channels, height, width): a view, nothing copied
    windows = sliding_window_view(_pad(X, padding, fill), (height, width), axis=(1, 2))
    picked = windows[np.arange(X.shape[0]), corners[:, 0], corners[:, 1]]  # (batch, channels, height, width)
    return np.ascontiguousarray(np.moveaxis(picked, 1, 3))


def _bilinear(X, rows, cols, fill):
    """X sampled at the real (rows, cols), each of shape (batch, height, width), bilinear; `fill` outside.

    The images are padded by one pixel of fill and the points clipped to that frame, so that the four neighbours of
    every point are inside the padded array and a point far outside takes the fill value. `rows` and `cols` are
    overwritten. The gathers run on one plane per channel (a gather of 3-value rows, or weights broadcast along
    the channel axis, is several times slower) and work in place where they can: on a busy machine, the page
    faults of fresh arrays cost as much as the arithmetic.
    Returns an array of shape (batch, height, width, channels).
    """
    batch, height, width, channels = X.shape
    np.clip(rows, -1, height, out=rows)
    np.clip(cols, -1, width, out=cols)
    top, left = np.floor(rows), np.floor(cols)
    np.minimum(top, height - 1, out=top)
    np.minimum(left, width - 1, out=left)
    rows -= top  # now the weight of the lower neighbours
    cols -= left  # and of the right ones
    stride = width + 2
    corner = top.astype(np.intp)  # (batch, height, width): top-left neighbour in a flat padded plane
    corner += 1 + np.arange(batch)[:, None, None] * (height + 2)
    corner *= stride
    corner += left.astype(np.intp) + 1
    planes = _padded_planes(X, fill)  # (channels, batch * (height + 2) * (width + 2))

    upper = np.take(planes, corner, axis=1, mode="clip")  # (channels, batch, height, width)
    index = corner + stride
    lower = np.take(planes, index, axis=1, mode="clip")
    buffer = np.empty_like(upper)
    for near, offset in ((upper, 1), (lower, stride + 1)):
        np.add(corner, offset, out=index)
        np.take(planes, index, axis=1, mode="clip", out=buffer)
        buffer -= near
        buffer *= cols
        near += buffer
    lower -= upper
    lower *= rows
    out = np.empty(X.shape, X.dtype)
    np.add(upper, lower, out=np.moveaxis(out, 3, 0))  # written through a (channels, batch, H, W) view
    return out


def _padded_planes(X, fill):
    """X padded by one pixel of `fill`, one plane per channel: (channels, batch * (height + 2) * (width + 2))."""
    batch, height, width, channels = X.shape
    planes = np.zeros((channels, batch, height + 2, width + 2), X.dtype)
    planes[:, :, 1:-1, 1:-1] = np.moveaxis(X, 3, 0)
    if fill == "edge":
        planes[:, :, 0], planes[:, :, -1] = planes[:, :, 1], planes[:, :, -2]
        planes[:, :, :, 0], planes[:, :, :, -1] = planes[:, :, :, 1], planes[:, :, :, -2]
    return planes.reshape(channels, -1)


def _pad(X, padding, fill):
    """X with `padding` pixels of `fill` on each side of the height and width axes (X itself for 0)."""
    if padding == 0:
        return X
    widths = ((0, 0), (padding, padding), (padding, padding), (0, 0))
    return np.pad(X, widths, mode="edge") if fill == "edge" else np.pad(X, widths)


def _hue_rotation(turns):
    """Rotations about the grey axis (1, 1, 1) by `turns` (batch,) full turns: (batch, 3, 3) (Rodrigues)."""
    angle = 2 * np.pi * turns[:, None, None]
    cross = np.array([[0, -1, 1], [1, 0, -1], [-1, 1, 0]]) / np.sqrt(3)  # k x v for the unit grey axis k
    grey = np.full((3, 3), 1 / 3)  # k k^T
    return np.cos(angle) * np.eye(3) + np.sin(angle) * cross + (1 - np.cos(angle)) * grey


def _per_image(value, name, batch):
    """`value` (a number or an array of shape (batch,)) as finite float64 of shape (batch,)."""
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        value = np.full(batch, float(value))
    value = np.asarray(value)
    if value.shape != (batch,) or value.dtype.kind not in "iuf" or not np.all(np.isfinite(value)):
        raise ValueError(f"`{name}` must be a finite number or an array of {batch} finite numbers (one per image), "
                         f"got {value.dtype} of shape {value.shape}")
    return value.astype(np.float64)


def _check_fill(fill):
    if fill not in FILLS:
        raise ValueError(f"`fill` must be one of {', '.join(map(repr, FILLS))}, got {fill!r}")
    return fill


def _check_size(size):
    """`size` as a (height, width) pair of positive ints, from an int or a pair."""
    pair = (size, size) if isinstance(size, numbers.Integral) and not isinstance(size, bool) else size
    if not isinstance(pair, (tuple, list)) or len(pair) != 2:
        raise TypeError(f"`size` must be an int or a (height, width) pair of ints, got {size!r}")
    return tuple(check_int(value, "size", 1) for value in pair)


def _check_generator(rng):
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"`rng` must be a numpy.random.Generator (e.g. np.random.default_rng(0)), the caller's, "
                        f"got {type(rng).__name__}")


# the default for digits, justified in the module docstring
_DIGITS_JITTER = ColorJitter(brightness=0.2, contrast=0.2, saturation=0.2, hue=0.1)
DIGITS = Compose([RandomShift(2, fill="edge"), RandomRotation(10.0, fill="zero"), _DIGITS_JITTER])

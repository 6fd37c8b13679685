"""augment.py: shapes, dtypes, randomness, geometry against plain and scipy oracles, colour maths, specs, bad input."""
import json

import numpy as np
import pytest
import scipy.ndimage

import augment

DTYPES = [np.float32, np.float64]


def images(n=6, height=9, width=7, channels=3, dtype=np.float64, seed=0):
    return (np.random.default_rng(seed).random((n, height, width, channels)) - 0.5).astype(dtype)


def every_transform():
    """One of each transform, random in every way it can be."""
    return [augment.RandomShift(2), augment.RandomShift(1, fill="zero"), augment.RandomCrop((9, 7), padding=2),
            augment.RandomRotation(30.0), augment.RandomRotation(20.0, fill="edge"),
            augment.ColorJitter(0.2, 0.3, 0.4, 0.1), augment.RandomHorizontalFlip(), augment.RandomVerticalFlip(),
            augment.DIGITS, augment.from_spec("shift,rotate,color,hflip,vflip")]


class StubGenerator(np.random.Generator):
    """A Generator whose `integers` and `uniform` return given values, recording the bounds they were asked for."""

    def __init__(self, integers=None, uniform=()):
        super().__init__(np.random.PCG64(0))
        self._integers, self._uniform, self.calls = integers, list(uniform), []

    def integers(self, low, high=None, size=None, **kwargs):
        self.calls.append(("integers", low, high, size))
        return np.asarray(self._integers).reshape(size)

    def uniform(self, low=0.0, high=1.0, size=None):
        self.calls.append(("uniform", low, high, size))
        return np.asarray(self._uniform.pop(0), dtype=float).reshape(size)


def shifted(image, down, right, fill):
    """Plain oracle: `image` (height, width, channels) moved down and right, the border filled pixel by pixel."""
    height, width, _ = image.shape
    out = np.zeros_like(image)
    for i in range(height):
        for j in range(width):
            source_i, source_j = i - down, j - right
            inside = 0 <= source_i < height and 0 <= source_j < width
            if inside or fill == "edge":
                out[i, j] = image[min(max(source_i, 0), height - 1), min(max(source_j, 0), width - 1)]
    return out


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("transform", every_transform(), ids=repr)
def test_shape_dtype_and_input_untouched(transform, dtype):
    X = images(dtype=dtype)
    X.setflags(write=False)  # an in-place change would raise
    out = transform(X, np.random.default_rng(0))
    assert out.shape == X.shape and out.dtype == dtype
    assert not np.shares_memory(out, X)
    np.testing.assert_array_equal(X, images(dtype=dtype))


@pytest.mark.parametrize("transform", every_transform(), ids=repr)
def test_the_same_seed_gives_the_same_batch_and_another_seed_another(transform):
    X = images(n=16)
    first, again = transform(X, np.random.default_rng(5)), transform(X, np.random.default_rng(5))
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, transform(X, np.random.default_rng(6)))


@pytest.mark.parametrize("transform", every_transform(), ids=repr)
def test_each_image_gets_its_own_draw(transform):
    X = np.repeat(images(n=1), 16, axis=0)
    out = transform(X, np.random.default_rng(1))
    assert len({image.tobytes() for image in out}) > 1


def test_the_global_rng_is_untouched():
    np.random.seed(123)
    state = np.random.get_state()
    X = images()
    for transform in every_transform():
        transform(X, np.random.default_rng(0))
    augment.from_spec("default,crop:9:1,hflip")(X, np.random.default_rng(0))
    after = np.random.get_state()
    assert after[0] == state[0] and np.array_equal(after[1], state[1]) and after[2:] == state[2:]


@pytest.mark.parametrize("fill", augment.FILLS)
@pytest.mark.parametrize("offset", [(0, 0), (1, -2), (-3, 3), (8, 0), (0, -6)])
def test_shift_against_the_plain_oracle(offset, fill):
    X = images(n=2)
    out = augment.shift(X, np.array([offset, offset[::-1]]), fill)
    np.testing.assert_array_equal(out[0], shifted(X[0], *offset, fill))
    np.testing.assert_array_equal(out[1], shifted(X[1], *offset[::-1], fill))


def test_a_bright_pixel_moves_by_the_drawn_shift():
    X = np.zeros((2, 8, 8, 1))
    X[:, 3, 4] = 1
    rng = StubGenerator(integers=[[2, -1], [-2, 2]])
    out = augment.RandomShift(2, fill="zero")(X, rng)
    assert rng.calls == [("integers", -2, 3, (2, 2))]  # both ends of [-2, 2] included
    assert [tuple(np.argwhere(image[..., 0] == 1)[0]) for image in out] == [(5, 3), (1, 6)]
    assert out.sum() == 2


@pytest.mark.parametrize("fill", augment.FILLS)
def test_every_random_shift_is_a_shift_within_the_range(fill):
    X = np.repeat(images(n=1), 200, axis=0)
    out = augment.RandomShift(2, fill=fill)(X, np.random.default_rng(0))
    candidates = {(down, right): shifted(X[0], down, right, fill) for down in range(-2, 3) for right in range(-2, 3)}
    seen = set()
    for image in out:
        matches = [offset for offset, candidate in candidates.items() if np.array_equal(image, candidate)]
        assert matches, "an output is no shift of at most 2 pixels of the input"
        seen.add(matches[0])
    assert seen == set(candidates)  # every shift in the range is drawn


def test_random_crop_cuts_windows_of_the_padded_image():
    X = images(n=300, height=6, width=5)
    out = augment.RandomCrop((4, 3), padding=1)(X, np.random.default_rng(0))
    assert out.shape == (300, 4, 3, 3)
    padded = np.pad(X, ((0, 0), (1, 1), (1, 1), (0, 0)))
    corners = set()
    for n, image in enumerate(out):
        matches = [(i, j) for i in range(5) for j in range(5) if np.array_equal(image, padded[n, i:i + 4, j:j + 3])]
        assert matches
        corners.update(matches)
    assert corners == {(i, j) for i in range(5) for j in range(5)}


def test_random_crop_to_the_image_size_is_a_zero_filled_shift():
    X = images(n=20, width=9)
    out = augment.from_spec("crop:9:2")(X, np.random.default_rng(0))
    for n, image in enumerate(out):
        assert any(np.array_equal(image, shifted(X[n], down, right, "zero"))
                   for down in range(-2, 3) for right in range(-2, 3))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("fill, mode", [("zero", "grid-constant"), ("edge", "nearest")])
def test_rotate_matches_scipy_ndimage_bilinear(fill, mode, dtype):
    angles = np.array([0.0, 7.5, -10.0, 33.0, 90.0, -135.0, 180.0])
    X = images(n=len(angles), height=11, width=8, dtype=dtype)
    out = augment.rotate(X, angles, fill)
    expected = np.stack([scipy.ndimage.rotate(X[n].astype(np.float64), angle, reshape=False, order=1, mode=mode)
                         for n, angle in enumerate(angles)])
    assert out.dtype == dtype
    np.testing.assert_allclose(out, expected, atol=1e-12 if dtype == np.float64 else 1e-5)


def test_rotate_turns_counter_clockwise_as_displayed():
    X = np.zeros((1, 5, 5, 1))
    X[0, 0, 2] = 1  # top middle
    out = augment.rotate(X, 90.0)
    assert np.argwhere(np.isclose(out[0, ..., 0], 1)).tolist() == [[2, 0]]  # left middle


def test_random_rotation_draws_one_angle_per_image_in_the_range():
    X = images(n=3)
    angles = [4.0, -9.5, 0.0]
    rng = StubGenerator(uniform=[angles])
    out = augment.RandomRotation(10.0, fill="edge")(X, rng)
    assert rng.calls == [("uniform", -10.0, 10.0, 3)]
    np.testing.assert_array_equal(out, augment.rotate(X, np.array(angles), "edge"))
    np.testing.assert_array_equal(augment.RandomRotation(0.0)(X, np.random.default_rng(0)), X)


@pytest.mark.parametrize("flip, axis", [(augment.RandomHorizontalFlip, 2), (augment.RandomVerticalFlip, 1)])
def test_flips_are_exact(flip, axis):
    X = images(n=40)
    mirrored = np.flip(X, axis=axis)
    np.testing.assert_array_equal(flip(p=1.0)(X, np.random.default_rng(0)), mirrored)
    np.testing.assert_array_equal(flip(p=0.0)(X, np.random.default_rng(0)), X)
    out = flip()(X, np.random.default_rng(0))
    was_flipped = [np.array_equal(out[n], mirrored[n]) for n in range(40)]
    assert all(was_flipped[n] or np.array_equal(out[n], X[n]) for n in range(40))
    assert 5 < sum(was_flipped) < 35


def adjusted_by_steps(image, brightness, contrast, saturation, hue):
    """Plain oracle: one image (height, width, 3), each step on its own, each pixel's hue turn with a cross product."""
    out = image + brightness
    out = contrast * (out - out.mean()) + out.mean()
    grey = out.mean(axis=-1, keepdims=True)
    out = saturation * (out - grey) + grey
    axis, angle = np.ones(3) / np.sqrt(3), 2 * np.pi * hue
    rotated = np.empty_like(out)
    for index in np.ndindex(out.shape[:2]):  # Rodrigues' formula
        v = out[index]
        rotated[index] = (v * np.cos(angle) + np.cross(axis, v) * np.sin(angle)
                          + axis * (axis @ v) * (1 - np.cos(angle)))
    return rotated


def test_adjust_color_matches_the_steps_one_by_one():
    X = images(n=3)
    values = {"brightness": [0.1, -0.2, 0.0], "contrast": [1.3, 0.6, 1.0], "saturation": [0.0, 1.5, 0.8],
              "hue": [0.1, -0.4, 0.5]}
    out = augment.adjust_color(X, **{name: np.array(value) for name, value in values.items()})
    for n in range(3):
        expected = adjusted_by_steps(X[n], *(value[n] for value in values.values()))
        np.testing.assert_allclose(out[n], expected, atol=1e-12)


@pytest.mark.parametrize("dtype", DTYPES)
def test_color_jitter_of_zero_strength_is_the_identity(dtype):
    X = images(dtype=dtype)
    np.testing.assert_array_equal(augment.ColorJitter()(X, np.random.default_rng(0)), X)
    np.testing.assert_array_equal(augment.adjust_color(X), X)


def test_hue_keeps_grey_pixels_and_each_pixels_channel_mean():
    X = images(n=4)
    X[:, 0, 0] = 0.3  # a grey pixel
    out = augment.ColorJitter(hue=0.5)(X, np.random.default_rng(0))
    np.testing.assert_allclose(out[:, 0, 0], 0.3, atol=1e-12)
    np.testing.assert_allclose(out.mean(axis=-1), X.mean(axis=-1), atol=1e-12)
    grey = X.mean(axis=-1, keepdims=True)
    np.testing.assert_allclose(np.linalg.norm(out - grey, axis=-1), np.linalg.norm(X - grey, axis=-1), atol=1e-12)
    assert not np.allclose(out, X)


def test_a_third_of_a_turn_of_hue_makes_red_green_and_green_blue():
    X = np.array([[[[1.0, 0, 0], [0, 1.0, 0], [0, 0, 1.0]]]])  # (1, 1, 3, 3): red, green, blue
    np.testing.assert_allclose(augment.adjust_color(X, hue=1 / 3)[0, 0], [[0, 1, 0], [0, 0, 1], [1, 0, 0]],
                               atol=1e-12)


def test_brightness_contrast_and_saturation_limits():
    X = images(n=2)
    np.testing.assert_allclose(augment.adjust_color(X, brightness=0.25), X + 0.25, atol=1e-12)
    flat = augment.adjust_color(X, contrast=0.0)
    np.testing.assert_allclose(flat, np.broadcast_to(X.mean(axis=(1, 2, 3), keepdims=True), X.shape), atol=1e-12)
    grey = augment.adjust_color(X, saturation=0.0)
    np.testing.assert_allclose(grey, np.broadcast_to(X.mean(axis=-1, keepdims=True), X.shape), atol=1e-12)


def test_color_jitter_draws_stay_in_their_ranges():
    X = images(n=200)
    shift = augment.ColorJitter(brightness=0.1)(X, np.random.default_rng(0)) - X  # (batch, H, W, C), constant per image
    per_image = shift[:, 0, 0, 0]
    np.testing.assert_allclose(shift, np.broadcast_to(per_image[:, None, None, None], X.shape), atol=1e-12)
    assert per_image.min() >= -0.1 and per_image.max() <= 0.1 and per_image.min() < -0.08 and per_image.max() > 0.08
    centred = X - X.mean(axis=(1, 2, 3), keepdims=True)
    contrasted = augment.ColorJitter(contrast=0.5)(X, np.random.default_rng(0))
    factors = (contrasted - X.mean(axis=(1, 2, 3), keepdims=True))[:, 0, 0, 0] / centred[:, 0, 0, 0]
    assert factors.min() >= 0.5 and factors.max() <= 1.5 and factors.min() < 0.55 and factors.max() > 1.45


def test_color_jitter_on_one_channel_changes_brightness_and_contrast_only():
    X = images(n=3, channels=1)
    out = augment.ColorJitter(saturation=0.9, hue=0.5)(X, np.random.default_rng(0))
    np.testing.assert_allclose(out, X, atol=1e-12)
    assert not np.allclose(augment.ColorJitter(0.2, 0.2)(X, np.random.default_rng(0)), X)


def test_compose_applies_in_order_with_one_generator():
    X = images()
    steps = [lambda X, rng: X + 1, lambda X, rng: X * 2]
    np.testing.assert_array_equal(augment.Compose(steps)(X, np.random.default_rng(0)), (X + 1) * 2)
    shift, jitter = augment.RandomShift(2), augment.ColorJitter(0.2, 0.2, 0.2, 0.1)
    rng = np.random.default_rng(3)
    expected = jitter(shift(X, rng), rng)
    np.testing.assert_array_equal(augment.Compose([shift, jitter])(X, np.random.default_rng(3)), expected)
    empty = augment.Compose([])(X, np.random.default_rng(0))
    np.testing.assert_array_equal(empty, X)
    assert not np.shares_memory(empty, X)


def test_digits_has_no_flips_and_is_the_default_spec():
    assert not any(isinstance(transform, (augment.RandomHorizontalFlip, augment.RandomVerticalFlip))
                   for transform in augment.DIGITS.transforms)
    assert augment.from_spec("default").config() == augment.DIGITS.config()
    assert repr(augment.DIGITS) == ("Compose([RandomShift(max_shift=2, fill='edge'), RandomRotation(degrees=10.0, "
                                    "fill='zero'), ColorJitter(brightness=0.2, contrast=0.2, saturation=0.2, "
                                    "hue=0.1)])")


@pytest.mark.parametrize("text, expected", [
    ("shift", [("RandomShift", {"max_shift": 2, "fill": "edge"})]),
    ("shift:3:zero, rotate:5:edge", [("RandomShift", {"max_shift": 3, "fill": "zero"}),
                                     ("RandomRotation", {"degrees": 5.0, "fill": "edge"})]),
    ("rotate", [("RandomRotation", {"degrees": 10.0, "fill": "zero"})]),
    ("crop:32:4", [("RandomCrop", {"size": (32, 32), "padding": 4, "fill": "zero"})]),
    ("crop:28", [("RandomCrop", {"size": (28, 28), "padding": 0, "fill": "zero"})]),
    ("color:0.3", [("ColorJitter", {"brightness": 0.3, "contrast": 0.3, "saturation": 0.3, "hue": 0.3})]),
    ("color:0.1:0.2:0.3:0.4", [("ColorJitter", {"brightness": 0.1, "contrast": 0.2, "saturation": 0.3, "hue": 0.4})]),
    ("color", [("ColorJitter", {"brightness": 0.2, "contrast": 0.2, "saturation": 0.2, "hue": 0.1})]),
    ("hflip,vflip:0.2", [("RandomHorizontalFlip", {"p": 0.5}), ("RandomVerticalFlip", {"p": 0.2})]),
    ("none", []),
    ("default,hflip:1", [("RandomShift", {"max_shift": 2, "fill": "edge"}),
                         ("RandomRotation", {"degrees": 10.0, "fill": "zero"}),
                         ("ColorJitter", {"brightness": 0.2, "contrast": 0.2, "saturation": 0.2, "hue": 0.1}),
                         ("RandomHorizontalFlip", {"p": 1.0})]),
])
def test_from_spec(text, expected):
    compose = augment.from_spec(text)
    assert isinstance(compose, augment.Compose)
    assert [(type(transform).__name__, vars(transform)) for transform in compose.transforms] == expected


@pytest.mark.parametrize("text, match", [
    ("blur", r"`augment` item 'blur' of 'blur' is unknown: each item must be one of default, none, shift"),
    ("shift:2,flip", r"`augment` item 'flip' of 'shift:2,flip' is unknown"),
    ("shift:x", r"`augment` item 'shift:x' of 'shift:x': max_shift must be an integer, got 'x'"),
    ("shift:2.5", r"max_shift must be an integer, got '2.5'"),
    ("rotate:-5", r"`augment` item 'rotate:-5' of 'rotate:-5': `degrees` must be a finite number >= 0"),
    ("rotate:10:wrap", r"`fill` must be one of 'edge', 'zero', got 'wrap'"),
    ("hflip:2", r"`augment` item 'hflip:2' .*`p` must be a finite number >= 0 and <= 1, got 2.0"),
    ("color:0.6", r"`hue` must be a finite number >= 0 and <= 0.5, got 0.6"),
    ("color:0.1:0.2", r"color takes 1 or 4 values .* got 2"),
    ("shift:1:edge:3", r"`augment` item 'shift:1:edge:3' .* has 3 values, shift takes 0 to 2"),
    ("crop", r"`augment` item 'crop' of 'crop' has 0 values, crop takes 1 to 3 \(items: default"),
    ("", r"`augment` must be 'none' or a comma-separated list .* got ''"),
    ("shift,,rotate", r"without empty items, got 'shift,,rotate'"),
    ("none,shift", r"`augment` must be 'none' or a comma-separated list"),
])
def test_from_spec_refuses_bad_text(text, match):
    with pytest.raises(ValueError, match=match):
        augment.from_spec(text)


def test_from_spec_refuses_a_non_string():
    with pytest.raises(TypeError, match="`augment` must be a str such as 'shift:2,rotate:10', got list"):
        augment.from_spec(["shift"])


@pytest.mark.parametrize("transform", every_transform(), ids=repr)
def test_config_is_json_and_rebuilds_the_transform(transform):
    config = json.loads(json.dumps(transform.config()))
    rebuilt = augment.from_config(config)
    assert repr(rebuilt) == repr(transform)
    X = images()
    np.testing.assert_array_equal(rebuilt(X, np.random.default_rng(0)), transform(X, np.random.default_rng(0)))


@pytest.mark.parametrize("make, error, match", [
    (lambda: augment.RandomShift(-1), ValueError, "`max_shift` must be an integer >= 0, got -1"),
    (lambda: augment.RandomShift(1.5), TypeError, "`max_shift` must be an integer, got 1.5"),
    (lambda: augment.RandomShift(2, fill="wrap"), ValueError, "`fill` must be one of 'edge', 'zero', got 'wrap'"),
    (lambda: augment.RandomCrop(0), ValueError, "`size` must be a positive integer, got 0"),
    (lambda: augment.RandomCrop("32"), TypeError, r"`size` must be an int or a \(height, width\) pair"),
    (lambda: augment.RandomCrop(32, padding=-4), ValueError, "`padding` must be an integer >= 0, got -4"),
    (lambda: augment.RandomRotation(-10), ValueError, "`degrees` must be a finite number >= 0 and <= 180, got -10"),
    (lambda: augment.RandomRotation("10"), TypeError, "`degrees` must be a real number, got '10'"),
    (lambda: augment.ColorJitter(brightness=-0.1), ValueError, "`brightness` must be a finite number >= 0"),
    (lambda: augment.ColorJitter(contrast=float("nan")), ValueError, "`contrast` must be a finite number"),
    (lambda: augment.ColorJitter(hue=0.6), ValueError, "`hue` must be a finite number >= 0 and <= 0.5, got 0.6"),
    (lambda: augment.RandomHorizontalFlip(p=1.5), ValueError, "`p` must be a finite number >= 0 and <= 1, got 1.5"),
    (lambda: augment.RandomVerticalFlip(p=-0.1), ValueError, "`p` must be a finite number >= 0 and <= 1"),
    (lambda: augment.RandomVerticalFlip(p=None), TypeError, "`p` must be a real number, got None"),
    (lambda: augment.Compose(augment.RandomShift()), TypeError, "`transforms` must be a sequence of transforms"),
    (lambda: augment.Compose([augment.RandomShift, 3]), TypeError, r"`transforms\[0\]` must be a callable"),
    (lambda: augment.from_config({"name": "Blur"}), ValueError, "`config` must be the config"),
])
def test_constructors_refuse_bad_arguments(make, error, match):
    with pytest.raises(error, match=match):
        make()


@pytest.mark.parametrize("call, error, match", [
    (lambda t: t(images(), None), TypeError, "`rng` must be a numpy.random.Generator .* got NoneType"),
    (lambda t: t(images(), 0), TypeError, "`rng` must be a numpy.random.Generator .* got int"),
    (lambda t: t(images(), np.random), TypeError, "`rng` must be a numpy.random.Generator .* got module"),
    (lambda t: t(images().astype(np.uint8), np.random.default_rng()), TypeError, "`X` must be an array of floats"),
    (lambda t: t(images()[0], np.random.default_rng()), ValueError, r"`X` must be 4-D \(batch, height, width"),
])
@pytest.mark.parametrize("transform", [augment.RandomShift(), augment.DIGITS], ids=repr)
def test_calls_refuse_bad_images_and_generators(transform, call, error, match):
    with pytest.raises(error, match=match):
        call(transform)


@pytest.mark.parametrize("call, match", [
    (lambda: augment.RandomCrop(12, padding=1)(images(), np.random.default_rng()),
     r"`size` \(12, 12\) must fit in the padded images \(11, 9\)"),
    (lambda: augment.ColorJitter(0.1)(images(channels=2), np.random.default_rng()),
     "`X` must have 1 or 3 channels for colour changes, got 2"),
    (lambda: augment.shift(images(n=2), np.zeros((3, 2), int)), r"`offsets` must be integers of shape \(2, 2\)"),
    (lambda: augment.shift(images(n=2), np.zeros((2, 2))), r"`offsets` must be integers of shape \(2, 2\)"),
    (lambda: augment.rotate(images(n=2), [1.0, 2.0, 3.0]), "`angles` must be a finite number or an array of 2"),
    (lambda: augment.rotate(images(n=2), np.nan), "`angles` must be a finite number"),
    (lambda: augment.adjust_color(images(n=2), hue="a"), "`hue` must be a finite number or an array of 2"),
])
def test_functions_refuse_bad_values(call, match):
    with pytest.raises(ValueError, match=match):
        call()

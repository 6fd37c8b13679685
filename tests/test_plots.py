"""plots.py: every figure on small data under Agg, its axes and data, and its bad input."""
import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib import pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

import plots  # noqa: E402

HISTORY = [{"epoch": e, "loss": 2.0 / e, "train_acc": 0.2 * e, "val_acc": 0.15 * e, "lr": 0.1, "seconds": 1.0}
           for e in range(1, 5)]


def images(n, channels=3, seed=0):
    return np.random.default_rng(seed).random((n, 8, 8, channels)) - 0.5


def figure_texts(fig):
    return [text.get_text() for ax in fig.axes for text in ax.texts]


def test_learning_curves_from_the_history():
    fig = plots.learning_curves(HISTORY)
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    loss_ax, acc_ax = fig.axes
    np.testing.assert_allclose(loss_ax.lines[0].get_ydata(), [2.0, 1.0, 2 / 3, 0.5])
    np.testing.assert_allclose(acc_ax.lines[1].get_ydata(), [0.15, 0.3, 0.45, 0.6])
    np.testing.assert_allclose(acc_ax.lines[0].get_xdata(), [1, 2, 3, 4])


def test_learning_curves_from_the_three_lists_of_fit():
    fig = plots.learning_curves([2.0, 1.0], [0.1, 0.2], [0.05, 0.1])
    assert len(fig.axes) == 2
    np.testing.assert_allclose(fig.axes[1].lines[0].get_xdata(), [1, 2])
    np.testing.assert_allclose(fig.axes[1].lines[0].get_ydata(), [0.1, 0.2])


@pytest.mark.parametrize("n_epochs", [1, 2, 3, 4, 7, 20, 50, 200])
@pytest.mark.parametrize("form", ["history", "lists"])
def test_learning_curves_epoch_axis_starts_at_one(n_epochs, form):
    """The log says "Epoch 1" for the first epoch: so do the axes, whose first tick is 1 and all ticks whole."""
    history = [{**HISTORY[0], "epoch": epoch} for epoch in range(1, n_epochs + 1)]
    loss, accuracy = [1.0] * n_epochs, [0.5] * n_epochs
    fig = plots.learning_curves(history) if form == "history" else plots.learning_curves(loss, accuracy, accuracy)
    for ax in fig.axes:
        assert all(line.get_xdata()[0] == 1 for line in ax.lines)
        ticks = ax.get_xticks()
        assert ticks[0] == 1 and ticks[-1] <= n_epochs and np.all(ticks == np.round(ticks)), ticks
        assert len(ticks) <= 12


@pytest.mark.parametrize("args, error, match", [
    ((HISTORY, [0.1]), TypeError, "either Trainer.history"),
    (([1.0, 2.0],), TypeError, "pass train_acc and val_acc too"),
    (([1.0, 2.0], [0.1], [0.1, 0.2]), ValueError, "of the same length"),
    (([], [], []), ValueError, "`history` must hold at least one epoch, got an empty list"),
    (([],), ValueError, "`history` must hold at least one epoch, got an empty list"),
    ((None,), TypeError, "`history` must be Trainer.history .* got NoneType"),
    ((5, [0.1], [0.1]), TypeError, "`history` must be Trainer.history .* got int"),
    (("abc",), TypeError, "`history` must be Trainer.history .* got str"),
    (({"loss": [1.0]},), TypeError, "`history` must be Trainer.history .* got dict"),
    ((iter([1.0]), [0.1], [0.1]), TypeError, "`history` must be Trainer.history .* got list_iterator"),
    (([{"epoch": 1, "loss": 1.0}],), ValueError,
     r"`history\[0\]` lacks the keys 'train_acc', 'val_acc'; each record needs epoch, loss, train_acc, val_acc"),
    (([HISTORY[0], {k: v for k, v in HISTORY[1].items() if k != "epoch"}],), ValueError,
     r"`history\[1\]` lacks the key 'epoch'"),
    (([HISTORY[0], 3],), TypeError, r"`history\[1\]` must be a dict like the other records, got int"),
    (([{**HISTORY[0], "loss": "x"}],), TypeError, r"`history` values of 'loss' must be numbers, got \['x'\]"),
    ((["a"], [0.1], [0.1]), TypeError, r"`history` must be a sequence of numbers, got \['a'\]"),
    (([1.0], [0.1], "b"), TypeError, r"`val_acc` must be a sequence of numbers, got 'b'"),
    (([1.0], [0.1], None), TypeError, "pass train_acc and val_acc too"),
])
def test_learning_curves_refuses_bad_input(args, error, match):
    with pytest.raises(error, match=match):
        plots.learning_curves(*args)


def test_confusion_matrix_draws_the_counts():
    fig = plots.confusion_matrix([0, 0, 1, 2, 2, 2], [0, 1, 1, 2, 2, 0], n_classes=3)
    assert len(fig.axes) == 2  # the matrix and its colour bar
    assert sorted(figure_texts(fig)) == ["1", "1", "1", "1", "2"]
    assert "accuracy 0.667 (4/6)" in fig.axes[0].get_title()


def test_misclassified_shows_one_axis_per_wrong_prediction():
    true, pred = np.array([0, 1, 2, 3, 4, 5]), np.array([0, 2, 2, 4, 5, 5])
    fig = plots.misclassified(images(6), true, pred)
    assert len(fig.axes) == 3
    assert [ax.get_title() for ax in fig.axes] == ["true 1\npred 2", "true 3\npred 4", "true 4\npred 5"]


def test_misclassified_adds_the_mean_back_and_caps_the_count():
    X = images(5, channels=1)
    mean = np.full((8, 8, 1), 0.5)
    fig = plots.misclassified(X, np.zeros(5, int), np.ones(5, int), mean_image=mean, max_images=2, ncols=1)
    assert len(fig.axes) == 2
    np.testing.assert_allclose(fig.axes[0].images[0].get_array(), np.clip(X[0, ..., 0] + 0.5, 0, 1))


def test_misclassified_says_when_nothing_is_wrong():
    fig = plots.misclassified(images(3), [1, 2, 3], [1, 2, 3])
    assert len(fig.axes) == 1 and figure_texts(fig) == ["no misclassified images among 3"]


@pytest.mark.parametrize("kwargs, error, match", [
    ({"X": np.zeros((2, 8, 8))}, ValueError, "`X` must have 4 dimensions"),
    ({"X": np.zeros((2, 8, 8, 2))}, ValueError, "`X` must have 1 or 3 channels"),
    ({"mean_image": np.zeros((8, 8, 2))}, ValueError, "`mean_image` must have 1 or 3 channels"),
    ({"mean_image": np.zeros((4, 4, 3))}, ValueError, r"`mean_image` must have the shape of one image \(8, 8, 3\)"),
    ({"pred": [0]}, ValueError, "`pred` must have one label per sample"),
    ({"max_images": 0}, ValueError, "`max_images` must be a positive integer"),
])
def test_misclassified_refuses_bad_input(kwargs, error, match):
    arguments = {"X": images(2), "true": [0, 1], "pred": [1, 0], **kwargs}
    with pytest.raises(error, match=match):
        plots.misclassified(arguments.pop("X"), arguments.pop("true"), arguments.pop("pred"), **arguments)


@pytest.mark.parametrize("channels, n_filters", [(3, 16), (1, 5)])
def test_filters_one_axis_per_filter(channels, n_filters):
    W = np.random.default_rng(0).standard_normal((3, 3, channels, n_filters))
    fig = plots.filters(W, ncols=4)
    assert len(fig.axes) == n_filters
    shown = fig.axes[1].images[0].get_array()
    assert shown.min() == pytest.approx(0) and shown.max() == pytest.approx(1)  # stretched per filter


@pytest.mark.parametrize("W, match", [
    (np.zeros((3, 3, 2, 4)), "`W` must have 1 or 3 channels"),
    (np.zeros((3, 3, 3, 0)), r"`W` must hold at least one filter \(out_channels >= 1\), got shape \(3, 3, 3, 0\)"),
])
def test_filters_refuses_bad_filters(W, match):
    with pytest.raises(ValueError, match=match):
        plots.filters(W)


def test_receptive_field_highlights_the_region_and_the_pixel():
    fig = plots.receptive_field(kernel_size=3, input_size=5, channels=2, output_pixel=(2, 0))
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    assert "3x3x2 region" in fig._suptitle.get_text()
    input_ax, output_ax = fig.axes
    highlighted = [patch for patch in input_ax.patches if patch.get_width() == 3]
    assert [(patch.get_x(), patch.get_y()) for patch in highlighted] == [(0, 2), (0.3, 1.7)]
    assert [(patch.get_x(), patch.get_y(), patch.get_width()) for patch in output_ax.patches[1:]] == [(0, 2, 1)]


def test_receptive_field_refuses_a_pixel_outside_the_output():
    with pytest.raises(ValueError, match=r"`output_pixel` must be \(row, col\) with both in \[0, 4\)"):
        plots.receptive_field(input_size=6, output_pixel=(4, 0))


def test_pooling_stride_shows_each_window_maximum():
    values = [[1, 2, 0, 0], [3, 4, 9, 1], [5, 0, 0, 2], [0, 0, 0, 7]]
    fig = plots.pooling_stride(values)
    assert len(fig.axes) == 2
    assert [text.get_text() for text in fig.axes[1].texts] == ["4", "9", "5", "7"]
    bold = [text.get_text() for text in fig.axes[0].texts if text.get_fontweight() == "bold"]
    assert sorted(bold) == ["4", "5", "7", "9"]


def test_pooling_stride_refuses_another_shape():
    with pytest.raises(ValueError, match="`values` must be a 4x4 array of numbers"):
        plots.pooling_stride(np.zeros((3, 3)))


def test_every_figure_saves_and_none_is_left_in_pyplot(tmp_path):
    figures = [plots.learning_curves(HISTORY), plots.confusion_matrix([0, 1], [1, 1], n_classes=2),
               plots.misclassified(images(2), [0, 1], [1, 0]), plots.filters(np.ones((3, 3, 3, 2))),
               plots.receptive_field(), plots.pooling_stride()]
    for k, fig in enumerate(figures):
        fig.savefig(tmp_path / f"{k}.png", dpi=40)
        assert (tmp_path / f"{k}.png").read_bytes().startswith(b"\x89PNG")
    assert plt.get_fignums() == []


def flip_left_right(X, rng):
    return X[:, :, ::-1]


def test_augmentations_grid_of_originals_and_versions():
    import augment

    X = images(3)
    mean = np.full((8, 8, 3), 0.5)
    fig = plots.augmentations(X, augment.DIGITS, rng=0, n_images=8, n_versions=4, mean_image=mean)
    assert isinstance(fig, Figure) and len(fig.axes) == 3 * 5  # only 3 images: 3 rows of original + 4 versions
    assert [ax.get_title() for ax in fig.axes[:5]] == ["original", "1", "2", "3", "4"]
    assert "augmented by RandomShift, RandomRotation, ColorJitter" in fig._suptitle.get_text()
    np.testing.assert_allclose(fig.axes[5].images[0].get_array(), np.clip(X[1] + 0.5, 0, 1))  # row 2, original
    again = plots.augmentations(X, augment.DIGITS, rng=0, n_versions=4, mean_image=mean)
    for ax, same in zip(fig.axes, again.axes):
        np.testing.assert_array_equal(ax.images[0].get_array(), same.images[0].get_array())


def test_augmentations_show_each_version_beside_its_original():
    X = images(4, channels=1)
    fig = plots.augmentations(X, flip_left_right, n_images=2, n_versions=2)
    assert len(fig.axes) == 6 and "augmented by flip_left_right" in fig._suptitle.get_text()
    row = X[1, ..., 0]
    stretched = (row - row.min()) / (row.max() - row.min())  # without a mean image: the original spans [0, 1]
    np.testing.assert_allclose(fig.axes[3].images[0].get_array(), stretched)
    np.testing.assert_allclose(fig.axes[4].images[0].get_array(), stretched[:, ::-1])


@pytest.mark.parametrize("kwargs, error, match", [
    ({"images": np.zeros((2, 8, 8))}, ValueError, "`images` must have 4 dimensions"),
    ({"transform": "shift:2"}, TypeError, "`transform` must be a callable transform"),
    ({"rng": "a"}, TypeError, "`rng` must be None, an integer or a numpy.random.Generator"),
    ({"n_images": 0}, ValueError, "`n_images` must be a positive integer, got 0"),
    ({"n_versions": 1.5}, TypeError, "`n_versions` must be an integer"),
    ({"mean_image": np.zeros((4, 4, 3))}, ValueError, r"`mean_image` must have the shape of one image \(8, 8, 3\)"),
    ({"transform": lambda X, rng: X[:1]}, ValueError, r"`transform` must return a batch of 2 images with 3 "
                                                      r"channels, got \(1, 8, 8, 3\)"),
    ({"transform": lambda X, rng: X[:, :4], "mean_image": np.zeros((8, 8, 3))}, ValueError,
     r"`transform` must return a batch of shape \(2, 8, 8, 3\) \(to add `mean_image` back\), got \(2, 4, 8, 3\)"),
    ({"transform": lambda X, rng: None}, ValueError, "`transform` must return a batch .* got NoneType"),
])
def test_augmentations_refuses_bad_input(kwargs, error, match):
    arguments = {"images": images(2), "transform": flip_left_right, **kwargs}
    with pytest.raises(error, match=match):
        plots.augmentations(arguments.pop("images"), arguments.pop("transform"), **arguments)


def test_augmentations_saves_and_leaves_nothing_in_pyplot(tmp_path):
    import augment

    fig = plots.augmentations(images(2), augment.from_spec("hflip,vflip"), rng=1, n_versions=2)
    fig.savefig(tmp_path / "augmentations.png", dpi=40)
    assert (tmp_path / "augmentations.png").read_bytes().startswith(b"\x89PNG")
    assert plt.get_fignums() == []

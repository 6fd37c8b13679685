"""Figures of a training run and of what the network learned, matplotlib only.

Every function returns a `matplotlib.figure.Figure` built without pyplot: nothing is shown, and nothing stays in
pyplot's list of open figures, so drawing in a loop does not leak memory. Save one with `fig.savefig(path)`; in
Jupyter a Figure returned as a cell's value is displayed.
"""
import numbers
import reprlib

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import ConnectionPatch, Rectangle
from matplotlib.ticker import MaxNLocator

from metrics import confusion_counts
from validation import check_float_array, check_int, check_labels, check_rng

HISTORY_KEYS = ("epoch", "loss", "train_acc", "val_acc")  # of each Trainer.history record, as drawn
HIGHLIGHT = "tab:orange"
WINDOW_COLOURS = ("tab:blue", "tab:orange", "tab:green", "tab:purple")
POOLING_EXAMPLE = ((1, 3, 2, 1),
                   (4, 6, 5, 0),
                   (3, 1, 1, 2),
                   (0, 2, 8, 3))


def learning_curves(history, train_acc=None, val_acc=None):
    """The loss, and the training and validation accuracy, per epoch.

    Parameters
    ----------
    history : list of dict, or sequence of float
        `Trainer.history` (dicts with keys epoch, loss, train_acc, val_acc); or the loss history followed by the
        two accuracy histories, as `Trainer.fit()` returns them: `learning_curves(loss, train_acc, val_acc)`.
    train_acc, val_acc : sequence of float of shape (n_epochs,)
        Only with a loss history.

    Returns
    -------
    Figure with two axes: the loss, then both accuracies, against the epoch numbered from 1 as in the training
    log (the records' `epoch` for Trainer.history).

    Raises
    ------
    TypeError
        `history` is neither form, a record is not a dict, or a value is not a number.
    ValueError
        `history` is empty, a record lacks one of the keys epoch, loss, train_acc, val_acc, or the three lists
        differ in length.
    """
    epochs, loss, train_acc, val_acc = _curves(history, train_acc, val_acc)
    fig = Figure(figsize=(10, 3.8), layout="constrained")
    loss_ax, acc_ax = fig.subplots(1, 2)
    loss_ax.plot(epochs, loss, marker="o", markersize=3)
    loss_ax.set(title="training loss (mean over each epoch)", xlabel="epoch", ylabel="loss")
    acc_ax.plot(epochs, train_acc, marker="o", markersize=3, label="train")
    acc_ax.plot(epochs, val_acc, marker="o", markersize=3, label="validation")
    acc_ax.set(title="accuracy", xlabel="epoch", ylabel="accuracy", ylim=(0, 1.02))
    acc_ax.legend()
    for ax in (loss_ax, acc_ax):
        ax.grid(alpha=0.3)
        ax.set_xticks(_epoch_ticks(epochs[0], epochs[-1]))
    return fig


def confusion_matrix(true, pred, n_classes=10):
    """The confusion matrix: each row (a true class) coloured by the fraction predicted as each class.

    Parameters
    ----------
    true, pred : int arrays of shape (n_samples,), class indices in [0, n_classes)
    n_classes : int

    Returns
    -------
    Figure with two axes: the matrix, annotated with the counts, and its colour bar.
    """
    counts = confusion_counts(true, pred, n_classes)
    totals = counts.sum(axis=1, keepdims=True)
    fractions = np.divide(counts, totals, out=np.zeros(counts.shape), where=totals > 0)
    accuracy = np.trace(counts) / max(counts.sum(), 1)

    fig = Figure(figsize=(6.4, 5.6), layout="constrained")
    ax = fig.subplots()
    image = ax.imshow(fractions, cmap="Blues", vmin=0, vmax=1)
    fig.colorbar(image, ax=ax, label="fraction of the true class")
    for (i, j), count in np.ndenumerate(counts):
        if count:
            ax.text(j, i, str(count), ha="center", va="center", fontsize=8,
                    color="white" if fractions[i, j] > 0.5 else "black")
    ticks = np.arange(counts.shape[0])
    ax.set(xticks=ticks, yticks=ticks, xlabel="predicted class", ylabel="true class",
           title=f"confusion matrix: accuracy {accuracy:.3f} ({np.trace(counts)}/{counts.sum()})")
    return fig


def misclassified(X, true, pred, *, n_classes=10, mean_image=None, max_images=32, ncols=8):
    """A grid of the first misclassified images, each titled with its true and predicted class.

    Parameters
    ----------
    X : ndarray of shape (n_samples, height, width, channels), channels 1 or 3
        The images as the network saw them.
    true, pred : int arrays of shape (n_samples,), class indices in [0, n_classes)
    n_classes : int
    mean_image : None or ndarray of shape (height, width, channels)
        The mean subtracted in preprocessing (see `dataset.prepare_for_neural_network`): added back and clipped to
        [0, 1] for display. Without it, each image is stretched to its own minimum and maximum.
    max_images : int
        At most this many images, in the order of X.
    ncols : int
        Images per row.

    Returns
    -------
    Figure with one axis per image shown (a single axis with a note when nothing was misclassified).
    """
    X = _check_displayable(X, "X", ndim=4)
    n_classes = check_int(n_classes, "n_classes", 1)
    true = check_labels(true, "true", n_classes, length=X.shape[0])
    pred = check_labels(pred, "pred", n_classes, length=X.shape[0])
    max_images = check_int(max_images, "max_images", 1)
    ncols = check_int(ncols, "ncols", 1)
    if mean_image is not None:
        mean_image = _check_displayable(mean_image, "mean_image", ndim=3)
        if mean_image.shape != X.shape[1:]:
            raise ValueError(f"`mean_image` must have the shape of one image {X.shape[1:]}, got {mean_image.shape}")

    wrong = np.flatnonzero(true != pred)[:max_images]
    if wrong.size == 0:
        fig = Figure(figsize=(4, 1.5), layout="constrained")
        ax = fig.subplots()
        ax.text(0.5, 0.5, f"no misclassified images among {X.shape[0]}", ha="center", va="center")
        ax.set_axis_off()
        return fig
    fig, axes = _image_grid(wrong.size, ncols, f"misclassified: the first {wrong.size} of "
                                               f"{np.count_nonzero(true != pred)}", title_lines=2)
    for ax, index in zip(axes, wrong):
        image = X[index] if mean_image is None else np.clip(X[index] + mean_image, 0, 1)
        _show_image(ax, image, stretch=mean_image is None)
        ax.set_title(f"true {true[index]}\npred {pred[index]}", fontsize=8)
    return fig


def filters(W, *, ncols=8):
    """The filters of a first convolutional layer, each as a small image.

    Parameters
    ----------
    W : ndarray of shape (filter_size, filter_size, in_channels, out_channels), in_channels 1 or 3
        E.g. `model.params()['conv1_W'].value`; RGB filters are drawn in colour, one-channel ones in grey.
    ncols : int
        Filters per row.

    Returns
    -------
    Figure with one axis per filter (out_channels axes); each filter is stretched to its own minimum and maximum.
    """
    W = _check_displayable(W, "W", ndim=4, channel_axis=2)
    if W.shape[3] == 0:
        raise ValueError(f"`W` must hold at least one filter (out_channels >= 1), got shape {W.shape}")
    ncols = check_int(ncols, "ncols", 1)
    fig, axes = _image_grid(W.shape[3], ncols, f"first-layer filters ({W.shape[0]}x{W.shape[1]}x{W.shape[2]}, "
                                               f"{W.shape[3]} of them)", title_lines=1)
    for f, ax in enumerate(axes):
        _show_image(ax, W[..., f], stretch=True)
        ax.set_title(str(f), fontsize=8)
    return fig


def receptive_field(kernel_size=3, input_size=6, channels=3, output_pixel=(1, 2)):
    """One output pixel of a convolution and the kernel_size x kernel_size x channels input region it sees.

    Drawn without padding, so the output is `input_size - kernel_size + 1` pixels wide; the output pixel (i, j)
    sees input rows i..i+kernel_size-1 and columns j..j+kernel_size-1, through all the input channels.

    Parameters
    ----------
    kernel_size, input_size, channels : int
        The input is drawn as `channels` stacked input_size x input_size grids.
    output_pixel : (row, col)
        The output pixel to highlight.

    Returns
    -------
    Figure with two axes: the input with the region highlighted, the output with the pixel highlighted.
    """
    kernel_size = check_int(kernel_size, "kernel_size", 1)
    input_size = check_int(input_size, "input_size", kernel_size)
    channels = check_int(channels, "channels", 1)
    output_size = input_size - kernel_size + 1
    row, col = _check_pixel(output_pixel, output_size)
    depth = 0.3  # offset of each channel's grid behind the previous one, in cells

    fig = Figure(figsize=(9, 4.4), layout="constrained")
    input_ax, output_ax = fig.subplots(1, 2, width_ratios=(input_size + depth * channels, input_size))
    for channel in range(channels):
        offset, zorder = depth * channel, 3 * (channels - channel)  # channel 0 in front
        _grid(input_ax, input_size, input_size, origin=(offset, -offset), zorder=zorder)
        input_ax.add_patch(Rectangle((col + offset, row - offset), kernel_size, kernel_size, facecolor=HIGHLIGHT,
                                     edgecolor="black", linewidth=1.5, alpha=0.85, zorder=zorder + 2))
    _frame(input_ax, input_size, input_size, f"input: {channels} channels of {input_size}x{input_size}",
           extra=depth * channels)
    _grid(output_ax, output_size, output_size)
    output_ax.add_patch(Rectangle((col, row), 1, 1, facecolor=HIGHLIGHT, edgecolor="black", linewidth=1.5,
                                  zorder=3))
    _frame(output_ax, output_size, output_size, f"output channel: {output_size}x{output_size}", extra=0)
    for corner in ((0, 0), (0, 1), (1, 0), (1, 1)):
        region_corner = (col + kernel_size * corner[0], row + kernel_size * corner[1])
        pixel_corner = (col + corner[0], row + corner[1])
        fig.add_artist(ConnectionPatch(region_corner, pixel_corner, "data", "data", axesA=input_ax,
                                       axesB=output_ax, color=HIGHLIGHT, linestyle="--", linewidth=1))
    fig.suptitle(f"One output pixel of a {kernel_size}x{kernel_size} convolution sees a "
                 f"{kernel_size}x{kernel_size}x{channels} region of the input:\nthe weighted sum of those "
                 f"{kernel_size * kernel_size * channels} values (one weight each) plus a bias")
    return fig


def pooling_stride(values=POOLING_EXAMPLE):
    """2x2 max pooling with stride 2 on a 4x4 input: the four windows, their maxima and the 2x2 result.

    Parameters
    ----------
    values : array-like of shape (4, 4), numbers
        The input; the default is a fixed example with one maximum per window.

    Returns
    -------
    Figure with two axes: the input, each window in its colour with its maximum in bold on a darker cell, and the
    output, each pixel in the colour of its window.
    """
    values = np.asarray(values)
    if values.shape != (4, 4) or not np.issubdtype(values.dtype, np.number):
        raise ValueError(f"`values` must be a 4x4 array of numbers, got shape {values.shape} dtype {values.dtype}")
    pool = stride = 2
    fig = Figure(figsize=(8, 4.2), layout="constrained")
    input_ax, output_ax = fig.subplots(1, 2, width_ratios=(4, 2.6))
    for window, (out_row, out_col) in enumerate(np.ndindex(2, 2)):
        colour = WINDOW_COLOURS[window]
        top, left = out_row * stride, out_col * stride
        block = values[top:top + pool, left:left + pool]
        max_row, max_col = np.unravel_index(np.argmax(block), block.shape)
        for (i, j), value in np.ndenumerate(block):
            is_max = (i, j) == (max_row, max_col)
            _cell(input_ax, top + i, left + j, value, colour, alpha=0.75 if is_max else 0.2, bold=is_max)
        input_ax.add_patch(Rectangle((left, top), pool, pool, fill=False, edgecolor=colour, linewidth=3))
        _cell(output_ax, out_row, out_col, block.max(), colour, alpha=0.75, bold=True)
    _frame(input_ax, 4, 4, "input 4x4: 2x2 windows moved by stride 2", extra=0)
    _frame(output_ax, 2, 2, "output 2x2: each window's maximum", extra=0)
    fig.suptitle("Max pooling 2x2, stride 2: output size (4 - 2) // 2 + 1 = 2")
    return fig


def augmentations(images, transform, rng=None, n_images=8, n_versions=5, mean_image=None):
    """Each image in the first column and `n_versions` augmented versions of it beside it.

    Parameters
    ----------
    images : ndarray of shape (n_samples, height, width, channels), channels 1 or 3
        The images as the network sees them; the first `n_images` are drawn (all of them when there are fewer).
    transform : callable `transform(X, rng) -> X`
        E.g. `augment.DIGITS` or `augment.from_spec("hflip")`; called once per column on the whole batch.
    rng : None, int or numpy.random.Generator
        The transform's generator; an int gives the same figure every time, None a new unseeded generator.
    n_images, n_versions : int >= 1
        Rows, and augmented columns per row.
    mean_image : None or ndarray of shape (height, width, channels)
        The mean subtracted in preprocessing: added back and clipped to [0, 1] for display. Without it, each row
        is stretched so that its original spans [0, 1], and its versions are mapped and clipped the same way, so
        that brightness and contrast changes stay visible.

    Returns
    -------
    Figure with n_rows * (1 + n_versions) axes, row by row; the top row is titled "original", "1", "2", ...

    Raises
    ------
    TypeError
        `transform` is not callable, or an argument has the wrong type.
    ValueError
        A bad count, `mean_image` of another shape, or a transform that does not return a batch of images of the
        same number and channels (and, with `mean_image`, the same shape).
    """
    images = _check_displayable(images, "images", ndim=4)
    if isinstance(transform, type) or not callable(transform):
        raise TypeError(f"`transform` must be a callable transform(X, rng), e.g. augment.DIGITS, got {transform!r}")
    rng = check_rng(rng, "rng")
    n_images = check_int(n_images, "n_images", 1)
    n_versions = check_int(n_versions, "n_versions", 1)
    if mean_image is not None:
        mean_image = _check_displayable(mean_image, "mean_image", ndim=3)
        if mean_image.shape != images.shape[1:]:
            raise ValueError(f"`mean_image` must have the shape of one image {images.shape[1:]}, "
                             f"got {mean_image.shape}")

    originals = images[:n_images]
    versions = [_augmented(transform, originals, rng, mean_image is not None) for _ in range(n_versions)]
    if mean_image is None:
        low = originals.min(axis=(1, 2, 3), keepdims=True)  # (n_rows, 1, 1, 1)
        span = originals.max(axis=(1, 2, 3), keepdims=True) - low
        span[span == 0] = 1
        shown = [np.clip((batch - low) / span, 0, 1) for batch in [originals, *versions]]
    else:
        shown = [np.clip(batch + mean_image, 0, 1) for batch in [originals, *versions]]

    ncols = 1 + n_versions
    name = ", ".join(_transform_name(step) for step in getattr(transform, "transforms", [transform])) or "nothing"
    fig, axes = _image_grid(len(originals) * ncols, ncols, f"augmented by {name} (first column: the original)",
                            title_lines=1)
    for row in range(len(originals)):
        for column in range(ncols):
            ax = axes[row * ncols + column]
            _show_image(ax, shown[column][row], stretch=False)
            if row == 0:
                ax.set_title("original" if column == 0 else str(column), fontsize=8)
    return fig


def _curves(history, train_acc, val_acc):
    """(epochs, loss, train_acc, val_acc) as 1-D arrays from either form `learning_curves` accepts."""
    if isinstance(history, (str, bytes, dict)) or not hasattr(history, "__len__"):
        raise TypeError(f"`history` must be Trainer.history (a list of dicts) or the loss history (a sequence of "
                        f"numbers), got {type(history).__name__}")
    if len(history) == 0:
        raise ValueError(f"`history` must hold at least one epoch, got an empty {type(history).__name__}")
    if isinstance(history[0], dict):
        if train_acc is not None or val_acc is not None:
            raise TypeError("pass either Trainer.history (list of dict) alone, or the three lists "
                            "(loss, train_acc, val_acc)")
        return _history_columns(history)
    if train_acc is None or val_acc is None:
        raise TypeError("with a loss history, pass train_acc and val_acc too: learning_curves(loss, train_acc, "
                        "val_acc)")
    curves = [_numbers(curve, f"`{name}` must be a sequence of numbers") for curve, name in
              ((history, "history"), (train_acc, "train_acc"), (val_acc, "val_acc"))]
    lengths = {curve.shape for curve in curves}
    if len(lengths) != 1 or curves[0].ndim != 1 or curves[0].size == 0:
        raise ValueError(f"the loss, train_acc and val_acc histories must be 1-D, non-empty and of the same length, "
                         f"got shapes {[curve.shape for curve in curves]}")
    return (np.arange(1, curves[0].size + 1), *curves)


def _history_columns(history):
    """The columns epoch, loss, train_acc, val_acc of `Trainer.history` as float arrays of shape (n_epochs,)."""
    for index, record in enumerate(history):
        if not isinstance(record, dict):
            raise TypeError(f"`history[{index}]` must be a dict like the other records, got "
                            f"{type(record).__name__}")
        missing = [key for key in HISTORY_KEYS if key not in record]
        if missing:
            keys = ", ".join(repr(key) for key in missing)
            raise ValueError(f"`history[{index}]` lacks the key{'s' if len(missing) > 1 else ''} {keys}; each "
                             f"record needs {', '.join(HISTORY_KEYS)}, as Trainer.history has them")
    return tuple(_numbers([record[key] for record in history], f"`history` values of {key!r} must be numbers")
                 for key in HISTORY_KEYS)


def _numbers(values, rule):
    """`values` as a float array; otherwise a TypeError stating `rule` and echoing (the start of) the values."""
    try:
        if isinstance(values, (str, bytes)):
            raise TypeError
        return np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        raise TypeError(f"{rule}, got {reprlib.repr(values)}") from None


def _epoch_ticks(first, last):
    """Whole-epoch ticks from `first` (labelled, as the log's "Epoch 1" is) to at most `last`, about six of them."""
    ticks = MaxNLocator(nbins=6, integer=True, min_n_ticks=1).tick_values(first, last)
    return [int(first), *(int(tick) for tick in ticks if first < tick <= last)]


def _augmented(transform, originals, rng, same_shape):
    """`transform(originals, rng)`, checked to be a float batch of the originals' number and channels (and shape)."""
    batch = transform(originals, rng)
    if (not isinstance(batch, np.ndarray) or batch.ndim != 4 or batch.shape[0] != originals.shape[0]
            or batch.shape[3] != originals.shape[3] or (same_shape and batch.shape != originals.shape)):
        shape = batch.shape if isinstance(batch, np.ndarray) else type(batch).__name__
        rule = f"of shape {originals.shape}" if same_shape else (f"of {originals.shape[0]} images with "
                                                                 f"{originals.shape[3]} channels")
        raise ValueError(f"`transform` must return a batch {rule}"
                         f"{' (to add `mean_image` back)' if same_shape else ''}, got {shape}")
    return batch


def _transform_name(transform):
    return getattr(transform, "__name__", type(transform).__name__)


def _check_displayable(array, name, ndim, channel_axis=-1):
    """An integer or float array of `ndim` dimensions with 1 or 3 channels along `channel_axis`."""
    array = np.asarray(array)
    if np.issubdtype(array.dtype, np.integer):
        array = array.astype(np.float64)
    array = check_float_array(array, name, ndim=ndim)
    if array.shape[channel_axis] not in (1, 3):
        raise ValueError(f"`{name}` must have 1 or 3 channels to be drawn, got shape {array.shape}")
    return array


def _image_grid(n_images, ncols, title, title_lines):
    """A Figure and `n_images` axes in rows of `ncols`, each axis ~1.2 inch wide with room for its title.

    Laid out by hand: constrained layout takes about a second to place a few dozen axes.
    """
    ncols = min(ncols, n_images)
    nrows = -(-n_images // ncols)
    side, gap, wspace, heading = 1.1, 0.1 + 0.15 * title_lines, 0.1, 0.45  # inches, except wspace
    width = max(ncols * side * (1 + wspace) + 0.2, 0.1 * len(title))  # a few images still fit the title
    height = nrows * (side + gap) + heading
    fig = Figure(figsize=(width, height))
    fig.subplots_adjust(left=0.1 / width, right=1 - 0.1 / width, bottom=0.05 / height,
                        top=1 - (heading + gap - 0.05) / height, wspace=wspace, hspace=gap / side)
    fig.suptitle(title, y=1 - 0.1 / height, va="top")
    return fig, [fig.add_subplot(nrows, ncols, k + 1) for k in range(n_images)]


def _show_image(ax, image, stretch):
    """Draw an image of shape (height, width, 1 or 3) on `ax`, stretched to [0, 1] when asked."""
    image = np.asarray(image, dtype=np.float64)
    if stretch:
        low, high = image.min(), image.max()
        image = (image - low) / (high - low) if high > low else np.full_like(image, 0.5)
    if image.shape[2] == 1:
        ax.imshow(image[..., 0], cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    else:
        ax.imshow(image, interpolation="nearest")
    ax.set(xticks=[], yticks=[])


def _check_pixel(pixel, size):
    if (not isinstance(pixel, (tuple, list)) or len(pixel) != 2
            or not all(isinstance(i, numbers.Integral) and 0 <= i < size for i in pixel)):
        raise ValueError(f"`output_pixel` must be (row, col) with both in [0, {size}), got {pixel!r}")
    return int(pixel[0]), int(pixel[1])


def _grid(ax, n_rows, n_cols, origin=(0, 0), zorder=1):
    """White cells with grey lines, `origin` being the (x, y) of the top-left corner; row 0 is at the top.

    The cells are drawn at `zorder` and the lines just above, so a grid drawn higher hides the ones behind it.
    """
    x0, y0 = origin
    ax.add_patch(Rectangle((x0, y0), n_cols, n_rows, facecolor="white", edgecolor="black", linewidth=1,
                           zorder=zorder))
    for k in range(1, n_cols):
        ax.plot([x0 + k, x0 + k], [y0, y0 + n_rows], color="0.6", linewidth=0.8, zorder=zorder + 1)
    for k in range(1, n_rows):
        ax.plot([x0, x0 + n_cols], [y0 + k, y0 + k], color="0.6", linewidth=0.8, zorder=zorder + 1)


def _cell(ax, row, col, value, colour, alpha, bold):
    ax.add_patch(Rectangle((col, row), 1, 1, facecolor=colour, alpha=alpha, edgecolor="black", linewidth=0.8))
    ax.text(col + 0.5, row + 0.5, f"{value:g}", ha="center", va="center", fontsize=14,
            fontweight="bold" if bold else "normal")


def _frame(ax, n_rows, n_cols, title, extra):
    """Square cells, row 0 at the top, no ticks; `extra` leaves room for the grids stacked behind."""
    ax.set_xlim(-0.2, n_cols + extra + 0.2)
    ax.set_ylim(n_rows + 0.2, -extra - 0.2)
    ax.set_aspect("equal")
    ax.set_axis_off()
    ax.set_title(title)

"""The models: the assignment's `ConvNet`, and `Sequential`, `lenet`, `vgg` (defined in sequential.py).

`ConvNet` is a `Sequential` of fixed layers: its forward, loss, gradients, predictions and parameters are
Sequential's, under the assignment's names (conv1_W, conv1_B, conv2_W, conv2_B, fc_W, fc_B).
"""
import numpy as np

from layers import ConvolutionalLayer, FullyConnectedLayer, Flattener, MaxPoolingLayer, ReLULayer
from sequential import Sequential, lenet, vgg  # noqa: F401  (lenet, vgg: public here too)
from validation import check_dtype, check_finite, check_images, check_int, check_rng

POOL = 4


class ConvNet(Sequential):
    """Conv 3x3 -> ReLU -> MaxPool 4x4 -> Conv 3x3 -> ReLU -> MaxPool 4x4 -> Flatten -> FullyConnected.

    The loss is the softmax cross-entropy of the last layer's scores (plus an optional L2 penalty on the weights).

    Parameters
    ----------
    input_shape : (height, width, channels)
        Shape of one image, e.g. (32, 32, 3); height and width at least 16 (two 4x4 poolings).
    n_output_classes : int
    conv1_channels, conv2_channels : int
        Output channels of the two convolutions.
    reg : float, keyword-only
        Strength of the L2 penalty on the weights (not the biases); 0 turns it off.
    dtype : float32 or float64, keyword-only
        Dtype of every parameter and of the computation.
    seed : None, int or numpy.random.Generator, keyword-only
        Source of the initial weights; the same seed gives the same model.
    """

    def __init__(self, input_shape, n_output_classes, conv1_channels, conv2_channels, *, reg=0.0,
                 dtype=np.float64, seed=None):
        input_shape = _check_input_shape(input_shape)
        self.n_output_classes = check_int(n_output_classes, "n_output_classes", 2)
        self.conv1_channels = check_int(conv1_channels, "conv1_channels", 1)
        self.conv2_channels = check_int(conv2_channels, "conv2_channels", 1)
        dtype = check_dtype(dtype)
        rng = check_rng(seed)

        height, width, channels = input_shape
        pooled_height, pooled_width = height // POOL // POOL, width // POOL // POOL
        super().__init__([
            ("conv1", ConvolutionalLayer(channels, conv1_channels, 3, 1, dtype=dtype, seed=rng)),
            ("relu1", ReLULayer()),
            ("pool1", MaxPoolingLayer(POOL, POOL)),
            ("conv2", ConvolutionalLayer(conv1_channels, conv2_channels, 3, 1, dtype=dtype, seed=rng)),
            ("relu2", ReLULayer()),
            ("pool2", MaxPoolingLayer(POOL, POOL)),
            ("flatten", Flattener()),
            # Variance 1 / (3 * fan_in), PyTorch's nn.Linear default: the pooled ReLU features are large and
            # positive, so LeCun's 1 / fan_in would start at a loss of 2.6-3.0 instead of about ln 10.
            ("fc", FullyConnectedLayer(pooled_height * pooled_width * conv2_channels, n_output_classes,
                                       dtype=dtype, seed=rng, gain=1 / 3)),
        ], reg=reg, input_shape=input_shape)

    def config(self):
        """The constructor arguments that rebuild this architecture: `ConvNet(**model.config())`."""
        return {"input_shape": self.input_shape, "n_output_classes": self.n_output_classes,
                "conv1_channels": self.conv1_channels, "conv2_channels": self.conv2_channels,
                "reg": self.reg, "dtype": self.dtype.name}

    @classmethod
    def from_config(cls, config):
        """Build a ConvNet from `config()`'s output, with freshly initialised parameters."""
        return cls(**config)

    def _check_X(self, X):
        """X as images of this model's shape: a wrong channel count is named as such (NHWC)."""
        X = check_images(X, "X", self.input_shape[2])
        if X.shape[1:] != self.input_shape:
            raise ValueError(f"`X` must have shape (batch, {', '.join(map(str, self.input_shape))}), got {X.shape}")
        return check_finite(X, "X")


def _check_input_shape(input_shape):
    if not isinstance(input_shape, (tuple, list)) or len(input_shape) != 3:
        raise ValueError(f"`input_shape` must be (height, width, channels), got {input_shape!r}")
    height, width, channels = (check_int(size, "input_shape", 1) for size in input_shape)
    if height < POOL * POOL or width < POOL * POOL:
        raise ValueError(f"`input_shape` height and width must be at least {POOL * POOL} for two {POOL}x{POOL} "
                         f"poolings, got {height}x{width}")
    return height, width, channels

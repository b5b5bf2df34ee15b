"""Fixed inputs of the feature-network reference checks.

Smooth closed-form patterns (no random generator, so every numpy version
gives the same values): moving blobs over oriented stripes, in [-1, 1].
tests/data/make_metric_references.py ran the reference implementations on
them once; test_i3d.py and test_inception_features.py run ours.
"""

import numpy as np


def pattern(batch, frames, height, width, offset=0.0):
    """float32 `(batch, frames, height, width, 3)` in [-1, 1]."""
    y = (np.arange(height, dtype=np.float64) + 0.5)[:, None] / height
    x = (np.arange(width, dtype=np.float64) + 0.5)[None, :] / width
    out = np.empty((batch, frames, height, width, 3), dtype=np.float64)
    for b in range(batch):
        phase = offset + 1.3 * b
        for t in range(frames):
            cy = 0.5 + 0.3 * np.sin(0.4 * t + phase)
            cx = 0.5 + 0.3 * np.cos(0.3 * t + 2.0 * phase)
            blob = np.exp(-((y - cy) ** 2 + (x - cx) ** 2) / (0.02 + 0.01 * b))
            for c in range(3):
                stripes = np.sin(2 * np.pi * ((3 + b) * x + (2 + c) * y) - 0.5 * t + 2.1 * c + phase)
                out[b, t, :, :, c] = 0.45 * stripes + 1.2 * blob - 0.5 + 0.1 * c
    return np.clip(out, -1.0, 1.0).astype(np.float32)


def i3d_clips():
    """Two 16-frame 224x224 clips, `(2, 16, 224, 224, 3)`."""
    return pattern(2, 16, 224, 224)


def inception_images():
    """Two 299x299 images, `(2, 299, 299, 3)`."""
    return pattern(2, 1, 299, 299, offset=0.7)[:, 0]


def small_inception_image():
    """One 64x64 image, `(1, 64, 64, 3)`: the network resizes it to 299x299."""
    return pattern(1, 1, 64, 64, offset=2.0)[:, 0]

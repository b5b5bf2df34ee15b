"""Sample-quality measures: feature networks, Frechet distances, evaluators.

Names are imported on first use, so that `kvdm.metrics.protocols` (read by
the command line before anything heavy) loads neither SciPy nor Keras;
`I3D`, `InceptionFeatures` and `resize_bilinear` load Keras.
"""

import importlib

_MODULES = {
    "DigitEvaluator": "digit_evaluator",
    "shuffle_frames": "digit_evaluator",
    "first_step_direction": "digit_evaluator",
    "fid": "feature_distances",
    "frechet_score": "feature_distances",
    "fvd": "feature_distances",
    "inception_score": "feature_distances",
    "video_fid": "feature_distances",
    "video_inception_features": "feature_distances",
    "frechet_distance": "frechet",
    "frame_coupling": "coupling",
    "I3D": "i3d",
    "psnr": "image_quality",
    "psnr_per_image": "image_quality",
    "ssim": "image_quality",
    "ssim_per_image": "image_quality",
    "InceptionFeatures": "inception_features",
    "FEATURE_NETWORKS": "protocols",
    "PROTOCOLS": "protocols",
    "Protocol": "protocols",
    "get_protocol": "protocols",
    "resize_bilinear": "resize",
    "Score": "score",
}


def __getattr__(name):
    if name in _MODULES:
        return getattr(importlib.import_module(f"kvdm.metrics.{_MODULES[name]}"), name)
    raise AttributeError(f"module 'kvdm.metrics' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_MODULES))


__all__ = sorted(_MODULES)

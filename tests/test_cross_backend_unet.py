"""The same weights give the same VideoUNet output on TensorFlow, JAX and
PyTorch (to float32 tolerance).

The Keras backend is fixed per process, so each backend runs in a
subprocess: the TensorFlow one builds the tiny preset with a fixed seed and
saves its weights and its output on fixed inputs; the JAX and PyTorch ones
load those weights and compute the output again.
"""

import os
import pathlib
import subprocess
import sys
import textwrap

import numpy as np
import pytest

REPO = pathlib.Path(__file__).resolve().parent.parent

SCRIPT = textwrap.dedent(
    """
    import sys

    import keras
    import numpy as np

    from kvdm.models import VideoUNet

    mode, directory = sys.argv[1], sys.argv[2]
    rng = np.random.default_rng(0)
    video = rng.normal(size=(2, 4, 16, 16, 3)).astype("float32")
    logsnr = np.array([-4.0, 7.5], "float32")
    condition = rng.normal(size=(2, 3, 16)).astype("float32")
    condition[1] = 0.0

    keras.utils.set_random_seed(0)
    model = VideoUNet.from_preset("tiny", condition_dim=16)
    model(video, logsnr, condition)
    weights_path = directory + "/unet.weights.h5"
    if mode == "save":
        # Random weights everywhere, so that no block is a zero-initialised
        # identity and every layer shows up in the output.
        model.set_weights(
            [
                (rng.normal(size=w.shape) * 0.2).astype("float32")
                for w in model.weights
            ]
        )
        model.save_weights(weights_path)
    else:
        model.load_weights(weights_path)
    output = model(video, logsnr, condition, num_image_frames=1)
    np.save(
        directory + "/output_" + keras.config.backend() + ".npy",
        keras.ops.convert_to_numpy(output),
    )
    """
)


def _env(backend):
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3")
    # XLA compiles every new shape once (JAX compiles each weight
    # initialiser); without the optimisation passes that takes a fraction of
    # the time and the float32 results stay within the tolerance below.
    env["XLA_FLAGS"] = (
        env.get("XLA_FLAGS", "")
        + " --xla_backend_optimization_level=0"
        + " --xla_llvm_disable_expensive_passes=true"
    ).strip()
    return env


def _start(backend, mode, directory):
    return subprocess.Popen(
        [sys.executable, "-c", SCRIPT, mode, str(directory)],
        env=_env(backend),
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _finish(process, backend, directory):
    _, stderr = process.communicate(timeout=600)
    assert process.returncode == 0, (
        f"KERAS_BACKEND={backend} run failed:\n{stderr[-5000:]}"
    )
    return np.load(directory / f"output_{backend}.npy")


@pytest.fixture(scope="module")
def outputs(tmp_path_factory):
    directory = tmp_path_factory.mktemp("cross_backend")
    reference = _finish(
        _start("tensorflow", "save", directory), "tensorflow", directory
    )
    processes = {
        backend: _start(backend, "load", directory)
        for backend in ("jax", "torch")
    }
    results = {"tensorflow": reference}
    for backend, process in processes.items():
        results[backend] = _finish(process, backend, directory)
    return results


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_same_weights_same_output(outputs, backend):
    reference = outputs["tensorflow"]
    assert reference.shape == (2, 4, 16, 16, 3)
    assert np.abs(reference).max() > 1e-2, "the reference output is trivial"
    np.testing.assert_allclose(
        outputs[backend], reference, atol=1e-4, rtol=1e-4
    )

"""The same weights give the same VideoUNet output on TensorFlow, JAX and
PyTorch (to float32 tolerance).

The Keras backend is fixed per process, so each backend runs in a
subprocess: the TensorFlow one builds the tiny preset with a fixed seed and
saves its weights and its output on fixed inputs; the JAX and PyTorch ones
load those weights and compute the output again. They run as a background
job (background.py) submitted when collection is done (`start_in_background`,
called by conftest.py), while the main process runs the other tests; the
tests here run last.
"""

import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import textwrap

import background
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


class Runs(background.Job):
    """TensorFlow saves, then JAX and PyTorch load; each in a process."""

    def __init__(self):
        super().__init__()
        self.directory = None

    def work(self):
        self.directory = pathlib.Path(tempfile.mkdtemp(prefix="cross_backend"))
        for backend, mode in [("tensorflow", "save"), ("jax", "load"),
                              ("torch", "load")]:
            process = self.popen(
                [sys.executable, "-c", SCRIPT, mode, str(self.directory)],
                env=_env(backend),
                cwd=REPO,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
            )
            try:
                _, stderr = process.communicate(timeout=600)
            except subprocess.TimeoutExpired:
                process.kill()
                _, stderr = process.communicate()
            assert process.returncode == 0, (
                f"KERAS_BACKEND={backend} run failed:\n{stderr[-5000:]}"
            )

    def outputs(self):
        self.wait()
        return {
            backend: np.load(self.directory / f"output_{backend}.npy")
            for backend in ("tensorflow", "jax", "torch")
        }

    def stop(self):
        super().stop()
        if self.directory is not None:
            shutil.rmtree(self.directory, ignore_errors=True)


_runs = []


def _started(config):
    if not _runs:
        _runs.append(background.submit(Runs(), config))
    return _runs[0]


def start_in_background(items):
    _started(items[0].config)


@pytest.fixture(scope="module")
def outputs(request):
    return _started(request.config).outputs()


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_same_weights_same_output(outputs, backend):
    reference = outputs["tensorflow"]
    assert reference.shape == (2, 4, 16, 16, 3)
    assert np.abs(reference).max() > 1e-2, "the reference output is trivial"
    np.testing.assert_allclose(
        outputs[backend], reference, atol=1e-4, rtol=1e-4
    )

"""`train.distribution: data_parallel`: two devices train like one.

The comparisons run in processes of their own with two CPU devices
(data_parallel_run.py), submitted as background jobs when collection is done
(background.py) so that they work while this process runs the other tests.
"""

import contextlib
import os
import pathlib
import sys
import tempfile

import background
import keras
import numpy as np
import pytest
import yaml
from data_parallel_run import RECIPE

from kvdm.config import Recipe
from kvdm.config import RecipeError
from kvdm.training import builders
from kvdm.training import list_checkpoints
from kvdm.utils import backend_utils

TESTS_DIR = pathlib.Path(__file__).resolve().parent
BACKENDS = ("tensorflow", "jax")
RUN = TESTS_DIR / "data_parallel_run.py"
LEARNING_RATE = RECIPE["train"]["learning_rate"]

_runs = {}


class DataParallelRun(background.Job):
    """data_parallel_run.py under `backend` with two CPU devices."""

    def __init__(self, backend, trainer):
        super().__init__()
        self.backend, self.trainer = backend, trainer
        self.folder = tempfile.mkdtemp(prefix=f"kvdm-dp-{backend}-")
        self.output, self.returncode = "", None

    @property
    def arrays(self):
        return os.path.join(self.folder, "arrays.npz")

    @property
    def run_dir(self):
        return os.path.join(self.folder, "run")

    def work(self):
        env = dict(os.environ, KERAS_BACKEND=self.backend,
                   TF_CPP_MIN_LOG_LEVEL="2")
        if self.backend == "jax":
            env["XLA_FLAGS"] = " ".join([
                env.get("XLA_FLAGS", ""),
                "--xla_force_host_platform_device_count=2",
            ]).strip()
        command = [sys.executable, str(RUN), self.arrays]
        if self.trainer:
            command += ["trainer", self.run_dir]
        with tempfile.TemporaryFile(mode="w+") as log:
            process = self.popen(command, env=env, cwd=TESTS_DIR.parent,
                                 stdout=log, stderr=log, text=True)
            self.returncode = process.wait()
            log.seek(0)
            self.output = log.read()

    def result(self):
        self.wait()
        assert self.returncode == 0, (
            f"data_parallel_run.py failed under KERAS_BACKEND={self.backend} "
            f"(exit {self.returncode}):\n{self.output[-20000:]}"
        )
        return np.load(self.arrays)


def _run(backend, trainer, config):
    key = (backend, trainer)
    if key not in _runs:
        _runs[key] = background.submit(DataParallelRun(backend, trainer),
                                       config)
    return _runs[key]


def start_in_background(items):
    for item in items:
        callspec = getattr(item, "callspec", None)
        if callspec is not None and "backend" in callspec.params:
            _run(callspec.params["backend"],
                 item.get_closest_marker("slow") is not None, item.config)


def _variables(arrays, prefix):
    """The variables of one run of data_parallel_run.py, in order."""
    names = sorted(k for k in arrays.files if k.startswith(f"{prefix}_0"))
    return [arrays[name] for name in names]


def _assert_same_variables(one_device, two_devices):
    """Weights, optimizer moments, EMA and seed states agree."""
    assert len(one_device) == len(two_devices) > 100
    for index, (one, two) in enumerate(zip(one_device, two_devices)):
        name = f"variable {index}"
        if one.dtype.kind != "f":
            np.testing.assert_array_equal(two, one, err_msg=name)
            continue
        # Relative to the variable's scale, plus 1e-4 of an Adam step:
        # Adam divides each gradient by its own size, so weights whose
        # gradient is almost zero (the zero-initialised output
        # convolutions) move by a full step whatever its size, and the
        # order in which the devices' gradients are summed shows there.
        tolerance = 1e-5 * np.max(np.abs(one)) + 1e-4 * LEARNING_RATE
        error = np.max(np.abs(two - one))
        assert error <= tolerance, (name, error, tolerance)


@pytest.mark.parametrize("backend", BACKENDS)
def test_two_devices_train_like_one(request, backend):
    """Two steps on a global batch of 4 split in 2 + 2 give the losses and
    variables of the same two steps on one device: the noise and the
    dropout masks are drawn for the global batch, and the gradients are
    those of the global mean."""
    arrays = _run(backend, False, request.config).result()
    assert str(arrays["backend"]) == backend
    assert int(arrays["devices"]) == 2
    np.testing.assert_allclose(
        arrays["data_parallel_losses"], arrays["none_losses"], rtol=1e-5
    )
    _assert_same_variables(
        _variables(arrays, "none"), _variables(arrays, "data_parallel")
    )


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_trainer_on_two_devices_checkpoints_and_resumes(request, backend):
    """`kvdm.training.train` with `data_parallel` writes the checkpoints a
    one-device run writes, and resumes on one device."""
    run = _run(backend, True, request.config)
    arrays = run.result()
    steps = [step for step, _ in list_checkpoints(run.run_dir)]
    assert steps[-1] == 3, steps
    path = dict(list_checkpoints(run.run_dir))[2]
    with np.load(os.path.join(path, "state.npz")) as state:
        saved = [state[name] for name in sorted(state.files)]
    _assert_same_variables(_variables(arrays, "none"), saved)
    with open(os.path.join(run.run_dir, "recipe.yaml")) as f:
        assert yaml.safe_load(f)["train"]["distribution"] == "none"
    assert os.path.isfile(os.path.join(run.run_dir, "model.keras"))


def _recipe(**train):
    return Recipe.from_dict({
        "data": {"name": "moving_digits", "num_frames": 4, "image_size": 16},
        "train": {"distribution": "data_parallel", **train},
    })


def test_distribution_is_validated(monkeypatch):
    with pytest.raises(RecipeError, match="train.distribution='model'"):
        Recipe.from_dict({"train": {"distribution": "model"}})
    with pytest.raises(RecipeError, match="distribution='data_parallel'"):
        Recipe.from_dict({"train": {"distribution": "data_parallel",
                                    "backend": "torch"}})
    # "none" asks nothing of the backend.
    calls = []
    monkeypatch.setattr(backend_utils, "data_parallel_scope",
                        lambda: calls.append(1))
    none = Recipe.from_dict({"train": {"distribution": "none"}})
    assert isinstance(builders.distribution_scope(none),
                      contextlib.nullcontext)
    assert not calls
    monkeypatch.setattr(backend_utils, "data_parallel_scope",
                        lambda: (contextlib.nullcontext(), 2))
    scope = builders.distribution_scope(_recipe(batch_size=4))
    assert isinstance(scope, contextlib.nullcontext)
    with pytest.raises(RecipeError, match="train.batch_size=3"):
        builders.distribution_scope(_recipe(batch_size=3))
    if keras.config.backend() == "tensorflow":
        with pytest.raises(RecipeError, match="train.grad_clip=1.0"):
            builders.distribution_scope(_recipe(batch_size=4, grad_clip=1.0))

    def unsupported():
        raise NotImplementedError

    monkeypatch.setattr(backend_utils, "data_parallel_scope", unsupported)
    with pytest.raises(RecipeError,
                       match="train.distribution='data_parallel'"):
        builders.distribution_scope(_recipe(batch_size=4))

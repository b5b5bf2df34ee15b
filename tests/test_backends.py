"""Runs the `backends`-marked core tests on the two backends this process is not using.

The Keras backend is fixed when keras is first imported, so each backend needs
a process of its own. The main pytest process covers the current backend (TensorFlow by default);
this test starts one pytest process for each of the other two and fails with that
process's output if any of its tests fail.
"""

import os
import pathlib
import subprocess
import sys

import pytest

TESTS_DIR = pathlib.Path(__file__).resolve().parent
CURRENT_BACKEND = os.environ.get("KERAS_BACKEND", "tensorflow")
OTHER_BACKENDS = tuple(
    name for name in ("tensorflow", "jax", "torch") if name != CURRENT_BACKEND
)


def _start(backend):
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="2")
    command = [
        sys.executable, "-m", "pytest", str(TESTS_DIR), "-m", "backends",
        "-q", "-p", "no:cacheprovider", "--no-header", "--durations=15",
    ]
    return subprocess.Popen(
        command, env=env, cwd=TESTS_DIR.parent,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )


@pytest.fixture(scope="module")
def backend_runs():
    processes = {backend: _start(backend) for backend in OTHER_BACKENDS}
    return {
        backend: (process.communicate()[0], process.returncode)
        for backend, process in processes.items()
    }


@pytest.mark.parametrize("backend", OTHER_BACKENDS)
def test_core_suite_passes_on_backend(backend_runs, backend):
    output, returncode = backend_runs[backend]
    assert returncode == 0, (
        f"`pytest -m backends` failed under KERAS_BACKEND={backend} "
        f"(exit {returncode}):\n{output[-20000:]}"
    )
    assert " passed" in output, output[-5000:]

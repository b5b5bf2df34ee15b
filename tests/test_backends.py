"""Runs the `backends`-marked core tests on the two backends this process is not using.

The Keras backend is fixed when keras is first imported, so each backend needs
a process of its own. The main pytest process covers the current backend
(TensorFlow by default); this module starts one pytest process for each of
the other two and fails with that process's output if any of its tests fail.

The processes run as background jobs (background.py) submitted when
collection is done (`start_in_background`, called by conftest.py); they work
while this process runs the other tests, and the tests below, run last, wait
for them.

Two passes, like the main process's:
- by default, the tests marked `backends` and neither `backends_slow` nor
  `slow`;
- with `-m slow`, the tests marked `backends_slow` (long statistical checks
  that the default pass runs on TensorFlow only) and those marked both
  `backends` and `slow`.
"""

import os
import pathlib
import sys
import tempfile

import background
import pytest

TESTS_DIR = pathlib.Path(__file__).resolve().parent
CURRENT_BACKEND = os.environ.get("KERAS_BACKEND", "tensorflow")
OTHER_BACKENDS = tuple(
    name for name in ("tensorflow", "jax", "torch") if name != CURRENT_BACKEND
)
MARKERS = {
    False: "backends and not backends_slow and not slow",
    True: "backends_slow or (backends and slow)",
}
NO_TESTS_COLLECTED = 5  # pytest's exit code

_runs = {}


class BackendRun(background.Job):
    """`pytest -m MARKERS[slow]` under KERAS_BACKEND=backend, in a process."""

    def __init__(self, backend, slow):
        super().__init__()
        self.backend, self.slow = backend, slow
        self.output, self.returncode = "", None

    def work(self):
        env = dict(os.environ, KERAS_BACKEND=self.backend,
                   TF_CPP_MIN_LOG_LEVEL="2")
        command = [
            sys.executable, "-m", "pytest", str(TESTS_DIR),
            "-m", MARKERS[self.slow],
            "-q", "-p", "no:cacheprovider", "--no-header", "--durations=15",
        ]
        # A file, not a pipe: nobody reads the output before the end.
        with tempfile.TemporaryFile(mode="w+") as log:
            process = self.popen(command, env=env, cwd=TESTS_DIR.parent,
                                 stdout=log, stderr=log, text=True)
            self.returncode = process.wait()
            log.seek(0)
            self.output = log.read()


def _run(backend, slow, config):
    key = (backend, slow)
    if key not in _runs:
        _runs[key] = background.submit(BackendRun(backend, slow), config)
    return _runs[key]


def start_in_background(items):
    for item in items:
        _run(item.callspec.params["backend"],
             item.get_closest_marker("slow") is not None, item.config)


def check(run):
    run.wait()
    if run.slow and run.returncode == NO_TESTS_COLLECTED:
        return  # no test is marked for this pass
    assert run.returncode == 0, (
        f"`pytest -m '{MARKERS[run.slow]}'` failed under "
        f"KERAS_BACKEND={run.backend} (exit {run.returncode}):\n"
        f"{run.output[-20000:]}"
    )
    assert " passed" in run.output, run.output[-5000:]


@pytest.mark.parametrize("backend", OTHER_BACKENDS)
def test_core_suite_passes_on_backend(request, backend):
    check(_run(backend, False, request.config))


@pytest.mark.slow
@pytest.mark.parametrize("backend", OTHER_BACKENDS)
def test_slow_core_suite_passes_on_backend(request, backend):
    check(_run(backend, True, request.config))

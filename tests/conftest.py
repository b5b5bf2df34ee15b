import importlib.util
import os
import pathlib

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# Tests use tiny networks: JAX's CPU compile time dominates them, and these
# flags roughly halve it without changing what is computed.
os.environ.setdefault(
    "XLA_FLAGS",
    "--xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true",
)

import keras  # noqa: E402
import pytest  # noqa: E402

import tiny_run  # noqa: E402


@pytest.fixture(autouse=True)
def _reset_keras_state():
    """Each test starts from float32 and a fresh name scope."""
    keras.config.set_dtype_policy("float32")
    yield
    keras.config.set_dtype_policy("float32")
    # Without the full garbage collection `clear_session` runs by default:
    # with TensorFlow, JAX and PyTorch loaded it takes 0.3 to 1.5 s, after
    # every test. Python's own collector still frees the test's cycles.
    keras.backend.clear_session(free_memory=False)


@pytest.fixture(scope="session")
def bench_module():
    """`load(name)`: the module `bench/<name>.py`, which is not a package."""
    bench = pathlib.Path(__file__).resolve().parents[1] / "bench"

    def load(name):
        spec = importlib.util.spec_from_file_location(name, bench / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    return load


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory):
    """A tiny run trained once per session with `kvdm train`.

    See tiny_run.py. Tests read it and write elsewhere; a test that changes
    a run folder works on a copy.
    """
    return tiny_run.train(tmp_path_factory.mktemp("tiny_run"))


# -- Subprocesses that work while this process runs the other tests ---------
#
# A test module that defines `start_in_background(items)` submits jobs there
# (background.py), such as the runs of the tests on the other Keras
# backends; it is called with the module's selected tests once collection is
# done, and those tests run at the end of the session, when the jobs have had
# time to work.


def _starts_in_background(item):
    module = getattr(item, "module", None)
    return hasattr(module, "start_in_background")


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config, items):
    items.sort(key=_starts_in_background)  # stable: only moves them last


def pytest_collection_finish(session):
    if session.config.option.collectonly:
        return
    by_module = {}
    for item in session.items:
        if _starts_in_background(item):
            by_module.setdefault(item.module, []).append(item)
    for module, items in by_module.items():
        module.start_in_background(items)


# -- Slow tests --------------------------------------------------------------
#
# `python -m pytest` deselects the tests marked `slow` (pyproject.toml's
# addopts); `python -m pytest -m slow` runs them, as the CI does (.ci/run).

_deselected_slow = []


def pytest_deselected(items):
    _deselected_slow.extend(
        item for item in items if item.get_closest_marker("slow"))


def pytest_terminal_summary(terminalreporter):
    if _deselected_slow:
        terminalreporter.write_line(
            f"{len(_deselected_slow)} slow tests deselected; "
            "`python -m pytest -m slow` runs them.")

"""`kvdm.cli.logs`: library log lines are hidden unless asked for."""

import logging
import os

import pytest

from kvdm.cli import logs

STARTUP = (
    "WARNING: All log messages before absl::InitializeLog() is called are "
    "written to STDERR\n"
    "I0000 00:00:1796292601.549823    4857 port.cc:153] oneDNN custom "
    "operations are on.\n"
    "W0000 00:00:1796292601.550216    4857 py_utils.cc:12] TF-TRT Warning: "
    "Could not find TensorRT\n"
    "E0000 00:00:1796292608.478608    4857 cuda_platform.cc:52] failed call "
    "to cuInit: UNKNOWN ERROR (303)\n"
    "F0000 00:00:1796292608.478608    4857 main.cc:1] fatal\n"
)


@pytest.fixture
def library_loggers():
    """Restores the levels `logs.quiet` changes."""
    names = ("absl",) + logs.LIBRARY_LOGGERS
    levels = {name: logging.getLogger(name).level for name in names}
    yield
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)


def test_filter_drops_log_lines_below_the_level_and_keeps_the_rest():
    text = STARTUP + "a warning of the user's own\n"
    assert logs.filter_native_lines(text, 0) == text
    assert logs.filter_native_lines(text, 3) == (
        "F0000 00:00:1796292608.478608    4857 main.cc:1] fatal\n"
        "a warning of the user's own\n")
    kept = logs.filter_native_lines(text, 2)
    assert "cuInit" in kept and "oneDNN" not in kept and "TF-TRT" not in kept
    kept = logs.filter_native_lines(text, 1)
    assert "TF-TRT" in kept and "oneDNN" not in kept and "absl" not in kept


def test_quiet_sets_the_level_unless_verbose_or_set(monkeypatch,
                                                    library_loggers):
    monkeypatch.delenv(logs.LOG_LEVEL_VARIABLE, raising=False)
    logs.quiet(verbose=True)
    assert logs.LOG_LEVEL_VARIABLE not in os.environ
    logs.quiet(verbose=False)
    assert os.environ[logs.LOG_LEVEL_VARIABLE] == logs.QUIET_LOG_LEVEL
    assert logging.getLogger("absl").getEffectiveLevel() == logging.ERROR
    monkeypatch.setenv(logs.LOG_LEVEL_VARIABLE, "1")
    logs.quiet(verbose=False)
    assert os.environ[logs.LOG_LEVEL_VARIABLE] == "1"


@pytest.mark.parametrize("level, shown", [("3", False), ("0", True)])
def test_start_up_lines_written_to_the_descriptor_are_filtered(
        monkeypatch, capfd, level, shown):
    monkeypatch.setenv(logs.LOG_LEVEL_VARIABLE, level)
    with logs.filtered_native_stderr():
        os.write(2, STARTUP.encode())
        os.write(2, b"kept line\n")
    err = capfd.readouterr().err
    assert "kept line" in err
    assert ("oneDNN" in err) == shown
    assert ("cuInit" in err) == shown

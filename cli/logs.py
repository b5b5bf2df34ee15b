"""Keeps the log lines of TensorFlow and other libraries off the terminal.

TensorFlow's C++ code writes lines such as `oneDNN custom operations are
on`, `cpu_feature_guard` or `failed call to cuInit` straight to the process's
stderr. Unless asked for more (`kvdm --verbose`, or a `TF_CPP_MIN_LOG_LEVEL`
of the user's own), a command sets `TF_CPP_MIN_LOG_LEVEL=3` before
TensorFlow loads, which silences what TensorFlow logs once it runs, and
lowers the Python loggers of absl, TensorFlow and JAX to errors. The lines
TensorFlow's libraries write while they load come before that setting is
read; `import_libraries` loads them with stderr captured and writes back
every line but the log lines below the level.
"""

import contextlib
import logging
import os
import re
import sys
import tempfile

from kvdm.cli import xla_flags

LOG_LEVEL_VARIABLE = "TF_CPP_MIN_LOG_LEVEL"
# Hides INFO (0), WARNING (1) and ERROR (2) lines: `failed call to cuInit`
# on a machine without a GPU is an ERROR line; real failures still reach
# the user as Python exceptions.
QUIET_LOG_LEVEL = "3"
# Python loggers of libraries that warn about the machine, not the command.
LIBRARY_LOGGERS = ("absl", "tensorflow", "jax._src.xla_bridge")

# An absl / TensorFlow C++ log line: severity, date, time, thread, file:line,
# e.g. `I0000 00:00:1796293018.704766    8683 port.cc:153] oneDNN ...`.
_NATIVE_LINE = re.compile(r"^([IWEF])\d{4} [\d:.]+\s+\d+ \S+:\d+\] ")
_SEVERITIES = "IWEF"
# What absl prints once, before the first line it logs before being set up.
_ABSL_PREAMBLE = "WARNING: All log messages before absl::InitializeLog()"


def quiet(verbose):
    """Turns library logs down for a command, unless `verbose`.

    A `TF_CPP_MIN_LOG_LEVEL` already in the environment is kept.

    Args:
        verbose: bool. Leave every log setting as it is.
    """
    if verbose:
        return
    os.environ.setdefault(LOG_LEVEL_VARIABLE, QUIET_LOG_LEVEL)
    try:
        from absl import logging as absl_logging
    except ImportError:
        absl_logging = None
    if absl_logging is not None:
        absl_logging.set_verbosity(absl_logging.ERROR)
    for name in LIBRARY_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)


def native_log_level():
    """The lowest C++ log severity shown: `TF_CPP_MIN_LOG_LEVEL` (0 if unset)."""
    try:
        return int(os.environ.get(LOG_LEVEL_VARIABLE, "0"))
    except ValueError:
        return 0


def filter_native_lines(text, min_level):
    """Drops the C++ log lines below `min_level`.

    Every other line is kept, also one that might continue a dropped log
    line (while loading, TensorFlow writes single-line messages only).

    Args:
        text: str. What was written to stderr.
        min_level: int. 0 keeps everything; 1 drops INFO lines, 2 also
            WARNING, 3 also ERROR lines.

    Returns:
        The text without those lines.
    """
    if min_level <= 0:
        return text
    kept = []
    for line in text.splitlines(keepends=True):
        match = _NATIVE_LINE.match(line)
        if match and _SEVERITIES.index(match.group(1)) < min_level:
            continue
        if line.startswith(_ABSL_PREAMBLE):
            continue
        kept.append(line)
    return "".join(kept)


@contextlib.contextmanager
def filtered_native_stderr():
    """Captures what is written to file descriptor 2 and writes it back
    without the C++ log lines below `TF_CPP_MIN_LOG_LEVEL`."""
    min_level = native_log_level()
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):
        saved = None
    if min_level <= 0 or saved is None:
        if saved is not None:
            os.close(saved)
        yield
        return
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield
        finally:
            try:
                sys.stderr.flush()
            except (OSError, ValueError):
                pass
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            text = capture.read().decode("utf-8", errors="replace")
            text = filter_native_lines(text, min_level)
            if text:
                sys.stderr.write(text)
                sys.stderr.flush()


def import_libraries(with_tensorflow=True):
    """Imports Keras (and TensorFlow) with their start-up lines filtered.

    On JAX, XLA's CPU flags are set first (`kvdm.cli.xla_flags`).

    Args:
        with_tensorflow: bool. Import TensorFlow too, whatever the Keras
            backend (the data pipelines and video reading use it).
    """
    xla_flags.apply()
    with filtered_native_stderr():
        if with_tensorflow:
            import tensorflow  # noqa: F401
        import keras  # noqa: F401

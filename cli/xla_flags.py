"""XLA's CPU flags for the `kvdm` command on JAX.

jaxlib 0.9 and 0.10 hand a convolution that stands alone to YNNPACK, whose
kernels use one core where Eigen uses all: at the benchmark's shape M a 3x3
convolution of 64 images of 64x64x64 to 64 channels took 766 ms forward
and backward through YNNPACK and 242 ms through Eigen
(`bench/backend_ops.py`). `--xla_cpu_experimental_ynn_fusion_type=
-individual_convolution` sends those convolutions to Eigen and leaves the
other YNNPACK fusions (the attention's products) where they are.

The flag is experimental and XLA stops the process at start-up on a flag
it does not know, so the command adds it only for the JAX backend, only
for the jaxlib versions it was checked on, and only when `XLA_FLAGS` does
not set the fusion types already. `KVDM_XLA_CPU_FLAGS=0` turns it off.
XLA reads `XLA_FLAGS` when JAX first starts a backend, so the variable is
set in the running process before Keras is imported; no restart is needed.
On GPUs and TPUs the flag changes nothing: it only concerns XLA's CPU code.
"""

import json
import os
from importlib import metadata

FLAG = "--xla_cpu_experimental_ynn_fusion_type"
SETTING = f"{FLAG}=-individual_convolution"
SWITCH = "KVDM_XLA_CPU_FLAGS"
# jaxlib versions that accept SETTING (checked: 0.8.3, 0.9.0, 0.9.2, 0.10.0,
# 0.10.1, 0.10.2): from the first, up to but not including the second.
CHECKED_JAXLIB = ((0, 8, 3), (0, 11))


def parse_version(text):
    """The leading numeric parts of a version string as a tuple of ints.

    `"0.10.2"` gives `(0, 10, 2)`, `"0.9.0.1"` gives `(0, 9, 0, 1)` and
    `"0.11.0.dev20270101"` gives `(0, 11, 0)`; None if the first part is
    not a number.
    """
    parts = []
    for part in str(text).split("."):
        if not part.isdigit():
            break
        parts.append(int(part))
    return tuple(parts) or None


def jaxlib_version():
    """The installed jaxlib's version tuple, or None if it is not installed."""
    try:
        return parse_version(metadata.version("jaxlib"))
    except metadata.PackageNotFoundError:
        return None


def keras_backend(environ):
    """The backend Keras will load, read without importing Keras.

    `KERAS_BACKEND` if set, else the `backend` of `keras.json` in
    `KERAS_HOME` (default `~/.keras`), else `"tensorflow"`, as Keras
    decides it.
    """
    if environ.get("KERAS_BACKEND"):
        return environ["KERAS_BACKEND"]
    home = environ.get("KERAS_HOME") or os.path.join(
        os.path.expanduser("~"), ".keras")
    try:
        with open(os.path.join(home, "keras.json")) as handle:
            backend = json.load(handle).get("backend")
    except (OSError, ValueError, AttributeError):
        backend = None
    return backend if isinstance(backend, str) and backend else "tensorflow"


def flags_for(environ, backend, jaxlib):
    """The `XLA_FLAGS` to run with, or None to leave the variable as it is.

    Args:
        environ: mapping. The current environment.
        backend: str. The Keras backend the command will load.
        jaxlib: tuple or None. See `jaxlib_version`.

    Returns:
        `XLA_FLAGS` with `SETTING` appended, when all of these hold: the
        backend is JAX, jaxlib is a version inside `CHECKED_JAXLIB`,
        `KVDM_XLA_CPU_FLAGS` is not `0`, and `XLA_FLAGS` does not name
        `FLAG` yet.
    """
    if backend != "jax" or environ.get(SWITCH, "1") == "0":
        return None
    lowest, beyond = CHECKED_JAXLIB
    if jaxlib is None or not lowest <= jaxlib < beyond:
        return None
    flags = environ.get("XLA_FLAGS", "")
    if FLAG in flags:
        return None
    return f"{flags} {SETTING}" if flags.strip() else SETTING


def apply():
    """Sets `XLA_FLAGS` in this process where `flags_for` says so.

    Must run before JAX starts a backend (before Keras is imported).

    Returns:
        The value set, or None if `XLA_FLAGS` was left as it is.
    """
    flags = flags_for(os.environ, keras_backend(os.environ), jaxlib_version())
    if flags is not None:
        os.environ["XLA_FLAGS"] = flags
    return flags

"""Start the `kvdm` command with transparent huge pages for `malloc`.

On Linux machines whose transparent huge pages are given only to memory
that asks for them (`/sys/kernel/mm/transparent_hugepage/enabled` shows
`[madvise]`), glibc 2.35 and later asks for them for the memory `malloc`
maps when the process starts with `GLIBC_TUNABLES=glibc.malloc.hugetlb=1`.
JAX's CPU kernels take their buffers from `malloc` and lose much of their
time to page translation without them (a train step at the benchmark's
shape S: 4.3 s against 3.2 s); TensorFlow and PyTorch do not change.
glibc reads the variable only at start-up, so the console script restarts
itself once, before anything heavy is imported, with the variable added.
`KVDM_HUGE_PAGES=0` turns this off; a `GLIBC_TUNABLES` that already names
`glibc.malloc.hugetlb` is left as it is.
"""

import os
import sys

TUNABLE = "glibc.malloc.hugetlb"
SWITCH = "KVDM_HUGE_PAGES"
_THP_MODE_FILE = "/sys/kernel/mm/transparent_hugepage/enabled"


def transparent_huge_pages_mode(path=_THP_MODE_FILE):
    """The kernel's selected mode (`always`, `madvise`, `never`), or None."""
    try:
        with open(path) as handle:
            text = handle.read()
    except OSError:
        return None
    for word in text.split():
        if word.startswith("[") and word.endswith("]"):
            return word[1:-1]
    return None


def glibc_version():
    """`(major, minor)` of the C library's glibc, or None if not glibc."""
    try:
        name, version = os.confstr("CS_GNU_LIBC_VERSION").split()
        major, minor = version.split(".")[:2]
        return int(major), int(minor)
    except (AttributeError, OSError, TypeError, ValueError):
        return None


def restart_environment(environ, platform, thp_mode, libc_version):
    """The environment to restart with, or None to go on as is.

    Args:
        environ: mapping. The current environment.
        platform: str. `sys.platform`.
        thp_mode: str or None. See `transparent_huge_pages_mode`.
        libc_version: tuple or None. See `glibc_version`.

    Returns:
        A new environment dict with `glibc.malloc.hugetlb=1` appended to
        `GLIBC_TUNABLES`, when all of these hold: Linux, glibc 2.35 or
        later, huge pages given on request (`madvise`; with `always`
        everything already gets them), `KVDM_HUGE_PAGES` is not `0`, and
        `GLIBC_TUNABLES` does not name the tunable yet (so the restarted
        process goes on).
    """
    if not platform.startswith("linux") or environ.get(SWITCH, "1") == "0":
        return None
    if thp_mode != "madvise" or libc_version is None or libc_version < (2, 35):
        return None
    tunables = environ.get("GLIBC_TUNABLES", "")
    if TUNABLE in tunables:
        return None
    restarted = dict(environ)
    setting = f"{TUNABLE}=1"
    restarted["GLIBC_TUNABLES"] = f"{tunables}:{setting}" if tunables else setting
    return restarted


def restart_if_useful():
    """Re-executes this Python process with huge pages when they would help.

    Returns only when no restart is needed; otherwise the process image is
    replaced by the same interpreter with the same arguments.
    """
    environ = restart_environment(
        os.environ, sys.platform, transparent_huge_pages_mode(), glibc_version()
    )
    if environ is None:
        return
    arguments = [sys.executable, *sys.orig_argv[1:]]
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, arguments, environ)

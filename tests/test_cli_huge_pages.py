"""The console script's restart with huge pages for `malloc`."""

import os
import subprocess
import sys

from kvdm.cli import huge_pages

LINUX = "linux"
NEW_GLIBC = (2, 36)


def test_restart_adds_the_tunable_only_where_it_helps():
    environ = {"PATH": "/bin"}
    restarted = huge_pages.restart_environment(environ, LINUX, "madvise", NEW_GLIBC)
    assert restarted == {"PATH": "/bin", "GLIBC_TUNABLES": "glibc.malloc.hugetlb=1"}
    assert environ == {"PATH": "/bin"}  # not changed in place
    # Other tunables are kept.
    restarted = huge_pages.restart_environment(
        {"GLIBC_TUNABLES": "glibc.malloc.arena_max=2"}, LINUX, "madvise", NEW_GLIBC
    )
    assert restarted["GLIBC_TUNABLES"] == "glibc.malloc.arena_max=2:glibc.malloc.hugetlb=1"
    # No restart: already set (this is also what ends the restart), turned
    # off, not Linux, huge pages always or never given, glibc too old or absent.
    for case in [
        ({"GLIBC_TUNABLES": "glibc.malloc.hugetlb=0"}, LINUX, "madvise", NEW_GLIBC),
        ({"KVDM_HUGE_PAGES": "0"}, LINUX, "madvise", NEW_GLIBC),
        ({}, "darwin", "madvise", NEW_GLIBC),
        ({}, LINUX, "always", NEW_GLIBC),
        ({}, LINUX, "never", NEW_GLIBC),
        ({}, LINUX, None, NEW_GLIBC),
        ({}, LINUX, "madvise", (2, 34)),
        ({}, LINUX, "madvise", None),
    ]:
        assert huge_pages.restart_environment(*case) is None, case


def test_mode_is_read_from_the_bracketed_word(tmp_path):
    path = tmp_path / "enabled"
    path.write_text("always [madvise] never\n")
    assert huge_pages.transparent_huge_pages_mode(str(path)) == "madvise"
    path.write_text("[always] madvise never\n")
    assert huge_pages.transparent_huge_pages_mode(str(path)) == "always"
    assert huge_pages.transparent_huge_pages_mode(str(tmp_path / "missing")) is None


def _run(environ):
    code = (
        "from kvdm.cli import huge_pages\n"
        "print('started', flush=True)\n"
        "huge_pages.restart_if_useful()\n"
        "import os\n"
        "print('tunables', os.environ.get('GLIBC_TUNABLES'))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], env=environ,
                          capture_output=True, text=True, timeout=60, check=True)
    return done.stdout.splitlines()


def test_process_restarts_once_with_the_same_arguments():
    environ = {k: v for k, v in os.environ.items() if k not in ("GLIBC_TUNABLES", "KVDM_HUGE_PAGES")}
    expected = huge_pages.restart_environment(
        environ, sys.platform, huge_pages.transparent_huge_pages_mode(),
        huge_pages.glibc_version(),
    )
    lines = _run(environ)
    if expected is None:
        assert lines == ["started", "tunables None"]
    else:
        # The first run printed, restarted; the second went on to the end.
        assert lines == ["started", "started", "tunables glibc.malloc.hugetlb=1"]
    assert _run(dict(environ, KVDM_HUGE_PAGES="0")) == ["started", "tunables None"]

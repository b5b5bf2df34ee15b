"""One writer per run folder: an exclusive lock held for a whole `train`.

`RunLock(output_dir)` takes an exclusive `fcntl.flock` on
`output_dir/train.lock` and writes the holder's PID, host and start time into
it. The operating system drops the lock when the holder exits in any way (an
exception, a signal, SIGKILL, a crash), so a lock file left behind by a dead
process does not block the next run: only the lock counts, the file's text
just says who holds it. The file is emptied on release but never deleted:
deleting a lock file that another process has already opened would let two
processes each hold a lock on a different file.

`flock` locks are advisory, and on some network file systems they are local
to one machine.
"""

import fcntl
import json
import os
import socket
import time

LOCK_FILE = "train.lock"


class RunLockedError(ValueError):
    """The run folder is locked by another `train`."""


class RunLock:
    """An exclusive lock on a run folder, so one `train` writes into it.

    Args:
        output_dir: str. The run folder; it must exist.

    Attributes:
        path: str. The lock file.
        holder: dict or None. `pid`, `host` and `start_time` of this lock
            while it is held.

    Example:

    ```python
    with RunLock("runs/moving_digits"):
        ...  # write checkpoints
    ```
    """

    def __init__(self, output_dir):
        self.output_dir = os.fspath(output_dir)
        self.path = os.path.join(self.output_dir, LOCK_FILE)
        self.holder = None
        self._fd = None

    def acquire(self):
        """Takes the lock, or raises `RunLockedError` naming its holder."""
        if self._fd is not None:
            raise RuntimeError(f"The lock {self.path} is already held.")
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _describe(_read_holder(fd), self.path)
            os.close(fd)
            raise RunLockedError(
                f"Run folder {self.output_dir} is in use by another "
                f"`kvdm train` ({holder}). Wait for it to end or stop it, or "
                f"choose another output folder. "
                f"Received: output_dir={self.output_dir}"
            ) from None
        except BaseException:
            os.close(fd)
            raise
        self.holder = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "start_time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(self.holder) + "\n").encode(), 0)
        os.fsync(fd)
        self._fd = fd
        return self

    def release(self):
        """Empties the lock file and drops the lock (nothing if not held)."""
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        self.holder = None
        try:
            os.ftruncate(fd, 0)
        finally:
            # Closing the only descriptor drops the lock.
            os.close(fd)

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()
        return False


def _read_holder(fd):
    """The holder dict written in a lock file, or None."""
    try:
        holder = json.loads(os.pread(fd, 4096, 0).decode("utf-8"))
    except (OSError, ValueError):
        return None
    return holder if isinstance(holder, dict) else None


def _describe(holder, path):
    if holder is None or "pid" not in holder:
        return f"its PID is not written in {path} yet"
    return (f"PID {holder['pid']} on {holder.get('host', 'an unknown host')}, "
            f"started {holder.get('start_time', 'at an unknown time')}")

"""Subprocess work that runs beside the tests: `Job` and `submit`.

A test module that defines `start_in_background(items)` submits its jobs
there; conftest.py calls it with the module's selected tests once collection
is done, and moves those tests to the end of the session, so the jobs work
while the main process runs the other tests.

`WORKERS` jobs (one less than the number of cores, at least one) run at a
time, the others wait in a queue: with the main pytest process that keeps
every core busy without more processes than cores slowing each other down.
"""

import os
import queue
import subprocess
import threading

WORKERS = max(1, (os.cpu_count() or 2) - 1)

_queue = queue.Queue()
_workers = []


class Stopped(Exception):
    """Raised in a job's `work` when the session ended before it."""


class Job:
    """Work done in a worker thread; subclasses define `work()`.

    `work` starts its subprocesses with `self.popen`, so that `stop` (called
    when the session ends) can kill them.
    """

    def __init__(self):
        self.done = threading.Event()
        self.error = None
        self._lock = threading.Lock()
        self._stopped = False
        self._processes = []

    def work(self):
        raise NotImplementedError

    def popen(self, *args, **kwargs):
        with self._lock:
            if self._stopped:
                raise Stopped()
            process = subprocess.Popen(*args, **kwargs)
            self._processes.append(process)
        return process

    def stop(self):
        with self._lock:
            self._stopped = True
            for process in self._processes:
                if process.poll() is None:
                    process.kill()

    def wait(self):
        """Waits for the job; re-raises what its `work` raised."""
        self.done.wait()
        if self.error is not None:
            raise self.error


def _run_jobs():
    while True:
        job = _queue.get()
        try:
            job.work()
        except BaseException as error:  # reported by `Job.wait`
            job.error = error
        finally:
            job.done.set()


def submit(job, config):
    """Queues `job`; `config.add_cleanup` stops it at the end of the session."""
    config.add_cleanup(job.stop)
    while len(_workers) < WORKERS:
        worker = threading.Thread(target=_run_jobs, daemon=True)
        worker.start()
        _workers.append(worker)
    _queue.put(job)
    return job

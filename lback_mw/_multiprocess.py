"""prometheus-client's multiprocess directory, checked where it is chosen: by
``lback-mw serve`` for its workers and by MetricsMiddleware for its process."""

from __future__ import annotations

import os
import shutil
import tempfile

from .exceptions import ImproperlyConfigured

#: The environment variable that turns on prometheus-client's multiprocess mode.
MULTIPROC_ENV_VAR = "PROMETHEUS_MULTIPROC_DIR"

#: The room each process needs in ``PROMETHEUS_MULTIPROC_DIR``: one file per metric
#: kind it writes (counters, histograms, live gauges), 64 KiB at first and doubled as
#: label sets fill it; a histogram over a hundred routes and five statuses is ~1 MiB.
SPACE_PER_PROCESS = 4 << 20


def check_multiprocess_dir(path: str, processes: int = 1, *, owner: str) -> None:
    """Refuse a ``PROMETHEUS_MULTIPROC_DIR`` that is missing, read-only or too full.

    prometheus-client writes through memory-mapped files: when the file system is
    full, a write to a mapped page kills the process with SIGBUS, before Python or
    the app's log can say anything, and gunicorn starts the next worker into the
    same death. So the space is checked at start-up: ``processes`` times
    :data:`SPACE_PER_PROCESS` must be free. Only at start-up: a directory that
    fills up later still kills workers, so give it room and watch it.
    """
    if not os.path.isdir(path):
        raise ImproperlyConfigured(
            f"{owner}: {MULTIPROC_ENV_VAR} is {path!r}, which is not a "
            "directory. Create it, empty, before the server starts (and empty it on "
            "every start, or old counts add up)."
        )
    try:
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as exc:
        raise ImproperlyConfigured(
            f"{owner}: {MULTIPROC_ENV_VAR} is {path!r}, where this process cannot "
            f"create files ({exc.strerror}); every worker writes its metrics there. "
            "Make it writable by the user the server runs as."
        ) from None
    free = shutil.disk_usage(path).free
    needed = processes * SPACE_PER_PROCESS
    if free < needed:
        raise ImproperlyConfigured(
            f"{owner}: {MULTIPROC_ENV_VAR} is {path!r}, which has {free / 2**20:.1f} MiB "
            f"free; {processes} process(es) need at least {needed >> 20} MiB there "
            f"({SPACE_PER_PROCESS >> 20} MiB each). prometheus-client writes through "
            "memory-mapped files, and on a full file system workers die of SIGBUS, "
            "one after another, with nothing in the log. Free some space, empty the "
            "directory (files of earlier runs add up), or point it at a larger one."
        )

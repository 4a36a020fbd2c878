"""Run ``lback-mw serve`` (real gunicorn), or any server command, on 127.0.0.1 for a
test, and stop it after.

Used by every test that needs real HTTP: the CLI, metrics under several workers,
the full built-in stack end to end, the browser test.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

#: How long gunicorn may take to boot before the test fails (not a speed check).
BOOT_TIMEOUT = 20.0


@dataclass
class Server:
    """A running ``lback-mw serve``: its base URL, process and log file."""

    url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for_log(self, pattern: str, timeout: float = 10.0) -> str:
        """The first match of the regex ``pattern`` in the log, once it is written."""
        deadline = time.monotonic() + timeout
        while True:
            found = re.search(pattern, self.log())
            if found is not None:
                return found.group(0)
            if time.monotonic() > deadline:
                pytest.fail(f"{pattern!r} not in the log within {timeout} s:\n{self.log()}")
            time.sleep(0.1)

    def worker_pids(self, expected: int, timeout: float = 10.0) -> set[str]:
        """The pids of the booted workers, once ``expected`` of them booted (or at timeout)."""
        deadline = time.monotonic() + timeout
        while True:
            pids = set(re.findall(r"Booting worker with pid: (\d+)", self.log()))
            if len(pids) >= expected or time.monotonic() > deadline:
                return pids
            time.sleep(0.1)

    def get(self, path: str, headers: Mapping[str, str] | None = None) -> HTTPResult:
        """GET ``path`` over HTTP; redirects and error statuses are returned, not
        followed or raised."""
        request = urllib.request.Request(self.url + path, headers=dict(headers or {}))
        try:
            with _OPENER.open(request, timeout=10) as response:
                return HTTPResult(response.status, response.headers, response.read())
        except urllib.error.HTTPError as error:
            with error:
                return HTTPResult(error.code, error.headers, error.read())


@dataclass
class HTTPResult:
    status: int
    headers: Any  # http.client.HTTPMessage: case-insensitive, get_all() for repeats
    body: bytes


class _KeepRedirects(urllib.request.HTTPRedirectHandler):
    """Hand redirects back to the test (as HTTPError) instead of following them."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_KeepRedirects)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def serve(
    cwd: Path,
    settings: str | None,
    *,
    workers: int | None = 2,
    env: Mapping[str, str] | None = None,
    ready_path: str = "/",
    host: str = "127.0.0.1",
    args: Sequence[str] = (),
    stdout_apart: bool = False,
    gunicorn_app: str | None = None,
) -> Iterator[Server]:
    """Start ``lback-mw serve --settings settings`` in ``cwd`` and wait until it answers
    (see :func:`started`).

    ``host`` is the loopback address to bind (``127.0.0.2`` plays a second machine).
    ``settings=None`` and ``workers=None`` leave those options out; ``args`` follow
    them (``["--app", "m:app"]``, ``["--", "--keep-alive", "5"]``). ``gunicorn_app``
    (``"myproject.wsgi:app"``) runs plain gunicorn on that module instead, with
    ``settings`` and ``args`` ignored.
    """
    port = free_port(host)
    command = [sys.executable, "-m", "lback_mw", "serve", "--bind", f"{host}:{port}"]
    command += ["--settings", settings] if settings is not None else []
    command += ["--workers", str(workers)] if workers is not None else []
    command += args
    if gunicorn_app is not None:
        command = [sys.executable, "-m", "gunicorn", "--bind", f"{host}:{port}"]
        command += ["--workers", str(workers or 1), gunicorn_app]
    with started(
        command, cwd, port, env=env, ready_path=ready_path, host=host, stdout_apart=stdout_apart
    ) as server:
        yield server


@contextmanager
def started(
    command: list[str],
    cwd: Path,
    port: int,
    *,
    env: Mapping[str, str] | None = None,
    ready_path: str = "/",
    host: str = "127.0.0.1",
    stdout_apart: bool = False,
) -> Iterator[Server]:
    """Run ``command`` in ``cwd`` until ``host``:``port`` answers; stop it after.

    ``env`` adds to a copy of this process's environment without its ``LBACK_*``
    variables. With ``stdout_apart`` the log holds stderr only (stdout goes to a file
    of its own). Any HTTP answer on ``ready_path`` (even a 404) counts as up. The
    command runs in a process group of its own (gunicorn's workers, ``lback-mw
    run``'s reloaded child), which is terminated by the leader's pid when the block
    ends, then killed if it must be.
    """
    full_env = {name: value for name, value in os.environ.items() if not name.startswith("LBACK_")}
    full_env["XDG_RUNTIME_DIR"] = str(cwd)  # gunicorn's control socket goes here
    full_env.update(env or {})
    log_path = cwd / f"server-{host}-{port}.log"
    with log_path.open("wb") as log, (cwd / f"server-{host}-{port}.out").open("wb") as out:
        process = subprocess.Popen(
            command,
            cwd=cwd,
            env=full_env,
            stdout=out if stdout_apart else log,
            stderr=log if stdout_apart else subprocess.STDOUT,
            start_new_session=True,
        )
    server = Server(f"http://{host}:{port}", process, log_path)
    try:
        _wait_until_up(server, ready_path)
        yield server
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _wait_until_up(server: Server, path: str) -> None:
    deadline = time.monotonic() + BOOT_TIMEOUT
    command = " ".join(map(str, server.process.args))  # type: ignore[arg-type]
    while True:
        if server.process.poll() is not None:
            pytest.fail(f"{command} exited with {server.process.returncode}:\n{server.log()}")
        try:
            server.get(path)
            return
        except (urllib.error.URLError, ConnectionError):
            if time.monotonic() > deadline:
                pytest.fail(f"{command} did not answer within {BOOT_TIMEOUT} s:\n{server.log()}")
            time.sleep(0.1)

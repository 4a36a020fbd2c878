"""Mixed traffic against ``lback-mw serve`` while its Redis is hung (``SIGSTOP``).

Starts a throw-away ``redis-server`` and ``lback-mw serve --workers 4`` (sync
workers) on 127.0.0.1, with server-side sessions and rate limits in that Redis,
creates some sessions, then freezes Redis and sends mixed traffic for
``--seconds`` (15 by default) from 8 client threads: a third session reads, a
third rate-limited requests, a third requests touching neither. It prints how
many requests were answered (by status) and the latency percentiles, then
resumes Redis and stops everything it started, by pid::

    $ python bench/hung_redis.py            # ~25 s
    $ python bench/hung_redis.py --json

Needs ``redis-server`` and the ``server`` and ``redis`` extras.
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

SETTINGS = """
SECRET_KEY = "hung-redis-bench-key-0123456789-0123456789"
DEBUG = False
ROUTES = "hungproj.routes"
SESSION_BACKEND = {redis!r} + "/1"
RATELIMIT_BACKEND = {redis!r} + "/0"
MIDDLEWARES = [
    "lback_mw.middlewares.SessionMiddleware",
    {{"class": "lback_mw.middlewares.RateLimitMiddleware",
      "params": {{"rules": [{{"path": "/limited", "limit": "100000/minute"}}]}}}},
]
"""

ROUTES = """
from lback_mw import Route

def login(request):
    request.session["user"] = request.args["user"]
    return "ok"

def me(request):
    return {"user": request.session.get("user")}

def plain(request):
    return "plain"

routes = [
    Route("/login", login),
    Route("/me", me),
    Route("/limited", plain, endpoint="limited"),
    Route("/plain", plain),
]
"""

CLIENT_THREADS = 8
WORKERS = 4


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"nothing answered on 127.0.0.1:{port}") from None
            time.sleep(0.05)


def request(port: int, path: str, cookie: str | None) -> tuple[int, str | None]:
    """One GET on a new connection: the status and the session cookie set, if any."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("GET", path, headers={"Cookie": cookie} if cookie else {})
        response = connection.getresponse()
        response.read()
        set_cookie = response.getheader("Set-Cookie")
        return response.status, set_cookie.split(";", 1)[0] if set_cookie else None
    finally:
        connection.close()


def run(seconds: float) -> dict[str, object]:
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("redis-server is not installed")
    workdir = Path(tempfile.mkdtemp(prefix="hung-redis-"))
    redis_port, http_port = free_port(), free_port()
    package = workdir / "hungproj"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "settings.py").write_text(SETTINGS.format(redis=f"redis://127.0.0.1:{redis_port}"))
    (package / "routes.py").write_text(ROUTES)
    redis_server = subprocess.Popen(
        [binary, "--port", str(redis_port), "--bind", "127.0.0.1", "--save", ""],
        cwd=workdir,
        stdout=subprocess.DEVNULL,
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("LBACK_")}
    env["PYTHONPATH"] = str(workdir)
    env["XDG_RUNTIME_DIR"] = str(workdir)
    command = [sys.executable, "-m", "lback_mw", "serve", "--settings", "hungproj.settings"]
    command += ["--workers", str(WORKERS), "--bind", f"127.0.0.1:{http_port}"]
    server = None
    stopped = False
    try:
        wait_for_port(redis_port, redis_server)
        server = subprocess.Popen(
            command,
            cwd=workdir,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_port(http_port, server)
        cookies = [request(http_port, f"/login?user=u{n}", None)[1] for n in range(20)]
        os.kill(redis_server.pid, signal.SIGSTOP)
        stopped = True
        traffic = itertools.cycle(
            [("/me", cookie) for cookie in cookies[:3]] + [("/limited", None), ("/plain", None)] * 2
        )
        lock = threading.Lock()
        latencies: list[float] = []
        statuses: Counter[int] = Counter()
        deadline = time.monotonic() + seconds

        def client() -> None:
            while time.monotonic() < deadline:
                with lock:
                    path, cookie = next(traffic)
                started = time.perf_counter()
                status, _ = request(http_port, path, cookie)
                with lock:
                    latencies.append(time.perf_counter() - started)
                    statuses[status] += 1

        threads = [threading.Thread(target=client) for _ in range(CLIENT_THREADS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        cuts = statistics.quantiles(latencies, n=100)
        return {
            "seconds": seconds,
            "workers": WORKERS,
            "client_threads": CLIENT_THREADS,
            "answered": len(latencies),
            "statuses": dict(sorted(statuses.items())),
            "p50_ms": round(cuts[49] * 1000, 1),
            "p99_ms": round(cuts[98] * 1000, 1),
            "max_ms": round(max(latencies) * 1000, 1),
        }
    finally:
        if stopped:
            os.kill(redis_server.pid, signal.SIGCONT)
        for process in (server, redis_server):
            if process is not None:
                process.terminate()
                process.wait(timeout=30)
        shutil.rmtree(workdir, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    figures = run(args.seconds)
    if args.json:
        print(json.dumps(figures))
        return
    print(
        f"Redis hung for {figures['seconds']:g} s, {WORKERS} sync workers, "
        f"{CLIENT_THREADS} client threads: {figures['answered']} requests answered "
        f"{figures['statuses']}, p50 {figures['p50_ms']} ms, p99 {figures['p99_ms']} ms, "
        f"max {figures['max_ms']} ms"
    )


if __name__ == "__main__":
    main()

"""Requests per second over real HTTP: gunicorn (1 worker) on 127.0.0.1, driven by wrk.

Run from the repository root (needs ``wrk``, Debian's package, and the ``bench`` extra)::

    python bench/over_http.py                  # ~5 min: 5 rounds of 3 s per case, sync + gthread
    python bench/over_http.py --quick          # ~1 min: 2 rounds of 2 s, sync only
    python bench/over_http.py --memory         # worker RSS after 10,000 and 50,000 requests

Every case runs in its own gunicorn master with one worker. Each round starts a new one
per case, all before timing and left idle while another case is driven, so the cases
take turns, in an order shuffled per round, and a slow phase of the machine slows them
all. A case's figure is the median of its rounds; each ratio is computed within a round
and the median over the rounds is reported. The file is
not called ``http.py``: run as a script, ``bench/`` is first on ``sys.path`` and would
shadow the standard library's ``http``.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if __package__ in (None, ""):
    sys.path.insert(0, str(ROOT))

from bench.http_apps import APPS  # noqa: E402

#: Sent with every request: the stacks allow this host, see HTTPS through gunicorn's
#: forwarded-scheme header (trusted from 127.0.0.1 by default) and answer CORS.
HEADERS = {
    "Host": "localhost",
    "X-Forwarded-Proto": "https",
    "Origin": "https://app.example.com",
    "Accept-Encoding": "gzip, deflate, br",
}

#: (numerator, denominator, target): a ratio of requests per second, higher is better.
RATIOS = [
    ("lback10", "falcon10", 1.0),
    ("lback_full", "django_full", 2.0),
    ("lback_http", "django_http", None),
    ("lback10", "django10", None),
    ("lback0", "bare", None),
]

_RPS = re.compile(r"^Requests/sec:\s+([\d.]+)", re.MULTILINE)
_NON_2XX = re.compile(r"Non-2xx or 3xx responses: (\d+)")
_ERRORS = re.compile(r"Socket errors: (.*)")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Server:
    key: str
    worker_class: str
    port: int
    process: subprocess.Popen[bytes]
    #: The ``Cookie`` header of the stateful cases, from their ``start`` page.
    cookie: str | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{APPS[self.key].path}"

    @property
    def headers(self) -> dict[str, str]:
        return HEADERS if self.cookie is None else {**HEADERS, "Cookie": self.cookie}

    def worker_pids(self) -> list[int]:
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return [int(pid) for pid in children.read_text().split()]


def _wait_until_answering(server: Server, timeout: float = 30.0) -> None:
    """Until the first page answers 200; a stateful case keeps the cookies it set."""
    deadline = time.monotonic() + timeout
    first = APPS[server.key].start or APPS[server.key].path
    request = urllib.request.Request(f"http://127.0.0.1:{server.port}{first}", headers=HEADERS)
    while True:
        if server.process.poll() is not None:
            raise SystemExit(f"gunicorn for {server.key!r} exited with {server.process.returncode}")
        try:
            with urllib.request.urlopen(request, timeout=2) as answer:
                if answer.status == 200:
                    cookies = [c.split(";", 1)[0] for c in answer.headers.get_all("Set-Cookie", [])]
                    if APPS[server.key].start is not None:
                        server.cookie = "; ".join(cookies)
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise SystemExit(f"gunicorn for {server.key!r} did not answer {server.url} in time")
        time.sleep(0.05)


@contextmanager
def serving(key: str, worker_class: str, log_dir: Path) -> Iterator[Server]:
    """One gunicorn master with one worker serving ``key``; stopped by its PID on exit."""
    port = _free_port()
    command = [
        sys.executable, "-m", "gunicorn",
        "--bind", f"127.0.0.1:{port}",
        "--workers", "1",
        "--worker-class", worker_class,
        *(["--threads", "4"] if worker_class == "gthread" else []),
        "--log-level", "warning",
        f'bench.http_apps:create("{key}")',
    ]  # fmt: skip
    log = (log_dir / f"{key}-{worker_class}.log").open("wb")
    process = subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    server = Server(key, worker_class, port, process)
    try:
        _wait_until_answering(server)
        yield server
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def _wrk(server: Server, seconds: int, connections: int, extra: Sequence[str] = ()) -> str:
    command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "5s"]
    for name, value in server.headers.items():
        command += ["-H", f"{name}: {value}"]
    result = subprocess.run(
        [*command, *extra], capture_output=True, text=True, timeout=seconds + 60, check=True
    )
    return result.stdout


def drive(server: Server, seconds: int, connections: int) -> float:
    """Requests per second for ``seconds``; refuses a run with errors or non-2xx answers."""
    output = _wrk(server, seconds, connections, [server.url])
    bad = _NON_2XX.search(output)
    errors = _ERRORS.search(output)
    if bad or errors:
        raise SystemExit(f"{server.key}: wrong answers under load:\n{output}")
    match = _RPS.search(output)
    if match is None:
        raise SystemExit(f"{server.key}: could not read wrk's output:\n{output}")
    return float(match.group(1))


def _ratio_rows(rps: dict[str, list[float]], rounds: int) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for top, bottom, target in RATIOS:
        if top not in rps or bottom not in rps:
            continue
        per_round = [rps[top][i] / rps[bottom][i] for i in range(rounds)]
        value = statistics.median(per_round)
        rows.append(
            {
                "ratio": f"{top} / {bottom}",
                "value": round(value, 3),
                "target": target,
                "met": None if target is None else value >= target,
            }
        )
    return rows


def throughput(worker_class: str, rounds: int, seconds: int, connections: int) -> dict[str, object]:
    """Each round starts a new gunicorn per case and drives them in a shuffled order.

    New processes every round, because one process per case for the whole run
    carries whatever luck it had (its core, its memory layout) into every round:
    on this 2-core machine two processes of the same app differ by a few percent,
    as much as the frameworks compared. A shuffled order, because the case driven
    first in a round runs on a machine that has just been idle.
    """
    rps: dict[str, list[float]] = {key: [] for key in APPS}
    with tempfile.TemporaryDirectory(prefix="lback-bench-") as log_dir:
        for round_number in range(rounds):
            with ExitStack() as stack:
                servers = {
                    key: stack.enter_context(serving(key, worker_class, Path(log_dir)))
                    for key in APPS
                }
                for server in servers.values():  # warm-up: imports, first-request caches
                    _wrk(server, 1, connections, [server.url])
                order = list(servers)
                random.Random(round_number).shuffle(order)
                for key in order:
                    rps[key].append(drive(servers[key], seconds, connections))
            print(f"[{worker_class}] round {round_number + 1}/{rounds} done", file=sys.stderr)
    return {
        "worker_class": worker_class,
        "requests_per_second": {key: round(statistics.median(rps[key]), 1) for key in APPS},
        "ratios": _ratio_rows(rps, rounds),
    }


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise SystemExit(f"no VmRSS for pid {pid}")


def _send(server: Server, count: int, clients: int = 2) -> None:
    """``count`` requests from ``clients`` threads, each on a new connection as wrk's are.

    Not wrk: its ``wrk.thread:stop()`` ends a thread's requests, but the process still
    waits out the whole ``-d`` duration (seen with Debian's wrk 4.1.0).
    """
    request = "".join(
        [f"GET {APPS[server.key].path} HTTP/1.1\r\n", "Connection: close\r\n"]
        + [f"{name}: {value}\r\n" for name, value in server.headers.items()]
        + ["\r\n"]
    ).encode("latin-1")

    def one_client(share: int) -> None:
        for _ in range(share):
            with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
                sock.sendall(request)
                answer = b"".join(iter(lambda: sock.recv(65536), b""))
            if not answer.startswith(b"HTTP/1.1 200 "):
                raise SystemExit(f"{server.key}: wrong answer under load:\n{answer[:500]!r}")

    shares = [count // clients + (i < count % clients) for i in range(clients)]
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(one_client, shares))


def memory(keys: Sequence[str] = ("lback_full", "django_full")) -> dict[str, object]:
    """A worker's RSS after 10,000 requests and after 50,000: the size, and any growth."""
    figures: dict[str, object] = {}
    with ExitStack() as stack:
        log_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="lback-bench-")))
        for key in keys:
            server = stack.enter_context(serving(key, "sync", log_dir))
            [worker] = server.worker_pids()
            _send(server, 10_000)
            at_10k = _rss_kib(worker)
            _send(server, 40_000)
            at_50k = _rss_kib(worker)
            figures[key] = {
                "rss_10k_mib": round(at_10k / 1024, 1),
                "rss_50k_mib": round(at_50k / 1024, 1),
                "growth_kib": at_50k - at_10k,
            }
            print(f"[memory] {key} done", file=sys.stderr)
    return figures


def _print_throughput(report: dict[str, object]) -> None:
    print(f"\n== gunicorn 1 worker, {report['worker_class']}: requests per second (median) ==")
    rps = report["requests_per_second"]
    assert isinstance(rps, dict)
    for key, value in rps.items():
        print(f"  {key:<14} {value:>10.1f}")
    ratios = report["ratios"]
    assert isinstance(ratios, list)
    for row in ratios:
        target = "" if row["target"] is None else f"  target >= {row['target']}: "
        met = "" if row["met"] is None else ("met" if row["met"] else "MISSED")
        print(f"  {row['ratio']:<26} {row['value']:>6.3f}x{target}{met}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 rounds of 2 s, sync worker only")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=2)
    parser.add_argument("--memory", action="store_true", help="RSS after 10k and 50k requests")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None and not args.memory:
        print("wrk is not installed (apt-get install wrk)", file=sys.stderr)
        return 2
    report: dict[str, object] = {}
    if args.memory:
        report["memory"] = memory()
    else:
        rounds, seconds = (2, 2) if args.quick else (args.rounds, args.seconds)
        classes = ["sync"] if args.quick else ["sync", "gthread"]
        report["throughput"] = [
            throughput(worker_class, rounds, seconds, args.connections) for worker_class in classes
        ]
    if args.json:
        print(json.dumps(report, indent=2))
    elif "memory" in report:
        print(json.dumps(report["memory"], indent=2))
    else:
        for block in report["throughput"]:  # type: ignore[attr-defined]
            _print_throughput(block)
    return 0


if __name__ == "__main__":
    sys.exit(main())

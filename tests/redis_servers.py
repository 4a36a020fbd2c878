"""Throw-away ``redis-server`` processes on 127.0.0.1: one server, a Cluster, a Sentinel set.

Each waits until its port answers ``PING`` (polled, bounded) and is stopped by
pid by :meth:`RedisProcesses.stop`, resumed first if a test froze it.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import redis
from redis.cluster import RedisCluster

from .databases import unavailable
from .serving import free_port

SERVICE = "mymaster"

#: How long a server or a cluster may take to come up before the test fails.
START_TIMEOUT = 20.0


def redis_binary() -> str:
    """The ``redis-server`` path; skips the test (fails under ``CI=true``) if missing."""
    binary = shutil.which("redis-server")
    if binary is None:
        unavailable("redis-server is not installed (apt-get install redis-server)")
    return binary


def wait_until(condition: Callable[[], object], what: str, timeout: float = START_TIMEOUT) -> None:
    """Poll ``condition`` (exceptions count as not yet) until truthy; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if condition():
                return
        except (redis.RedisError, OSError):
            pass
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)


@dataclass
class RedisProcesses:
    """The servers a fixture started, by port."""

    workdir: Path
    processes: dict[int, subprocess.Popen[bytes]] = field(default_factory=dict)

    def start(self, *args: str, port: int | None = None, sentinel: bool = False) -> int:
        """Start one server (or Sentinel) with ``args`` and wait until it answers."""
        port = port or free_port()
        directory = self.workdir / str(port)
        directory.mkdir(exist_ok=True)
        command = [redis_binary()]
        if sentinel:
            config = directory / "sentinel.conf"
            config.write_text("\n".join(args) + "\n")
            command += [str(config), "--sentinel"]
            args = ()
        command += ["--port", str(port), "--bind", "127.0.0.1"]
        command += [] if sentinel else ["--save", "", "--appendonly", "no", *args]
        self.processes[port] = subprocess.Popen(
            command, cwd=directory, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        wait_until(lambda: self.client(port).ping(), f"redis-server on 127.0.0.1:{port}")
        return port

    def client(self, port: int) -> redis.Redis:
        return redis.Redis(port=port, socket_timeout=2, socket_connect_timeout=2)

    def pid(self, port: int) -> int:
        return self.processes[port].pid

    def kill(self, port: int) -> None:
        process = self.processes.pop(port)
        process.kill()
        process.wait(timeout=10)

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                os.kill(process.pid, signal.SIGCONT)  # a frozen server cannot exit
                process.terminate()
        for process in self.processes.values():
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.processes.clear()


def cluster_port() -> int:
    """A free port whose cluster bus port (+10000) is free too."""
    for _ in range(200):  # bounded
        port = random.randint(20000, 29999)
        if all(_bindable(candidate) for candidate in (port, port + 10000)):
            return port
    raise AssertionError("no free pair of ports for a cluster node")


def _bindable(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def start_cluster(servers: RedisProcesses, masters: int = 3) -> str:
    """A Redis Cluster of ``masters`` masters, no replicas; its ``redis+cluster://`` URL."""
    ports = []
    for _ in range(masters):
        port = cluster_port()
        ports.append(
            servers.start("--cluster-enabled", "yes", "--cluster-node-timeout", "2000", port=port)
        )
    cli = shutil.which("redis-cli")
    if cli is None:
        unavailable("redis-cli is not installed (it comes with redis-server)")
    nodes = [f"127.0.0.1:{port}" for port in ports]
    subprocess.run(
        [cli, "--cluster", "create", *nodes, "--cluster-replicas", "0", "--cluster-yes"],
        check=True,
        stdout=subprocess.DEVNULL,
        timeout=60,
    )

    def ready() -> bool:
        for port in ports:
            info = servers.client(port).cluster("info")
            if info.get("cluster_state") != "ok" or int(info["cluster_known_nodes"]) != masters:
                return False
        return True

    wait_until(ready, "the cluster to agree on its slots")
    return "redis+cluster://" + ",".join(nodes)


@dataclass
class SentinelSet:
    """A master, its replica and one Sentinel watching them as :data:`SERVICE`."""

    servers: RedisProcesses
    master: int
    replica: int
    sentinel: int

    def url(self, db: int = 0) -> str:
        return f"redis+sentinel://127.0.0.1:{self.sentinel}/{SERVICE}/{db}"

    def current_master(self) -> int:
        address: Any = self.servers.client(self.sentinel).sentinel_get_master_addr_by_name(SERVICE)
        return int(address[1])

    def wait_for_master(self, port: int) -> None:
        """Until the Sentinel names ``port`` master and that server says it is one."""
        wait_until(
            lambda: (
                self.current_master() == port
                and self.servers.client(port).info("replication")["role"] == "master"
            ),
            f"127.0.0.1:{port} to become master",
        )


def start_sentinel_set(servers: RedisProcesses) -> SentinelSet:
    """Master, replica and Sentinel on 127.0.0.1, the replica in sync and known to it."""
    master = servers.start()
    replica = servers.start("--replicaof", "127.0.0.1", str(master))
    sentinel = servers.start(
        f"sentinel monitor {SERVICE} 127.0.0.1 {master} 1",
        f"sentinel down-after-milliseconds {SERVICE} 1000",
        f"sentinel failover-timeout {SERVICE} 5000",
        f"sentinel parallel-syncs {SERVICE} 1",
        sentinel=True,
    )
    wait_until(
        lambda: servers.client(replica).info("replication")["master_link_status"] == "up",
        "the replica to sync",
    )
    wait_until(
        lambda: servers.client(sentinel).sentinel_slaves(SERVICE),
        "the Sentinel to find the replica",
    )
    return SentinelSet(servers, master, replica, sentinel)


def flush_cluster(url: str) -> None:
    """Empty every master of the cluster at ``url``."""
    host, port = url.removeprefix("redis+cluster://").split(",")[0].split(":")
    with RedisCluster(host=host, port=int(port)) as cluster:
        cluster.flushdb(target_nodes=RedisCluster.PRIMARIES)

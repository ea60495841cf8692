"""A real RabbitMQ cluster of N nodes on this machine, for tests and benchmarks.

Each node is a separate ``rabbitmq-server`` (its own node name, AMQP and Erlang
distribution ports, data and log directories, no plugins), started detached
and joined to the first node with ``rabbitmqctl join_cluster``. Nodes share
the machine's Erlang cookie and epmd, exactly as nodes of one host would.
The broker that serves the rest of the suite (:5672) is never touched.

Usage::

    with RabbitCluster(nodes=3) as cluster:
        cluster.amqp_uri          # kombu failover URI over every node
        cluster.kill(0)           # kill -9 one node's VM
        cluster.start(0)          # and bring it back into the cluster
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Node:
    name: str
    port: int
    dist_port: int
    base: Path

    @property
    def uri(self) -> str:
        return f"pyamqp://guest:guest@127.0.0.1:{self.port}//"

    def env(self) -> dict:
        return {
            **os.environ,
            "RABBITMQ_NODENAME": self.name,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_MNESIA_BASE": str(self.base / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.base / "log"),
            "RABBITMQ_PID_FILE": str(self.base / "pid"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.base / "enabled_plugins"),
            "RABBITMQ_CONFIG_FILE": str(self.base / "rabbitmq"),
            "RABBITMQ_ADVANCED_CONFIG_FILE": str(self.base / "advanced.config"),
        }


DEPLOYED_CONF = Path(__file__).resolve().parents[2] / "deploy" / "rabbitmq" / "rabbitmq.conf"


def deployed_max_message_size() -> int:
    """``max_message_size`` of deploy/rabbitmq/rabbitmq.conf."""
    for line in DEPLOYED_CONF.read_text().splitlines():
        key, _, value = line.partition("=")
        if key.strip() == "max_message_size":
            return int(value.strip())
    raise LookupError(f"no max_message_size in {DEPLOYED_CONF}")


class RabbitCluster:
    def __init__(self, nodes: int = 3, prefix: str | None = None):
        if shutil.which("rabbitmq-server") is None:
            raise RuntimeError("rabbitmq-server is not installed (scripts/lib.sh installs it)")
        self.root = Path(tempfile.mkdtemp(prefix="cx-rmq-cluster-"))
        prefix = prefix or f"cxc{os.getpid()}"
        self.nodes = [
            Node(f"{prefix}n{i}@localhost", _free_port(), _free_port(), self.root / f"n{i}")
            for i in range(nodes)
        ]

    @property
    def amqp_uri(self) -> str:
        """All nodes, ';'-separated: kombu connects to the first that answers."""
        return ";".join(node.uri for node in self.nodes)

    # -- lifecycle -------------------------------------------------------------

    def __enter__(self) -> RabbitCluster:
        try:
            self.start_all()
        except BaseException:
            self.destroy()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.destroy()

    def start_all(self) -> None:
        for node in self.nodes:
            self._prepare(node)
            self._launch(node)
        for node in self.nodes:
            self._await(node)
        first = self.nodes[0]
        for node in self.nodes[1:]:
            self.ctl(node, "stop_app")
            self.ctl(node, "join_cluster", first.name)
            self.ctl(node, "start_app")
        self.wait_running(len(self.nodes))

    def _prepare(self, node: Node) -> None:
        node.base.mkdir(parents=True, exist_ok=True)
        (node.base / "enabled_plugins").write_text("[rabbitmq_consistent_hash_exchange].\n")
        # guest may log in over 127.0.0.1 (the default); nothing else listens
        # plus deploy/'s message size limit, so every test broker runs (and validates) it
        limit = deployed_max_message_size()
        (node.base / "rabbitmq.conf").write_text(
            f"listeners.tcp.default = 127.0.0.1:{node.port}\nmax_message_size = {limit}\n"
        )
        self._chown(self.root)

    def _chown(self, path: Path) -> None:
        # As root, rabbitmq-server drops to the rabbitmq user, which must own its dirs.
        if os.geteuid() != 0:
            return
        for dirpath, _dirs, files in os.walk(path):
            shutil.chown(dirpath, "rabbitmq", "rabbitmq")
            for name in files:
                shutil.chown(os.path.join(dirpath, name), "rabbitmq", "rabbitmq")

    def _launch(self, node: Node) -> None:
        subprocess.run(
            ["rabbitmq-server", "-detached"],
            env=node.env(),
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def _await(self, node: Node) -> None:
        # "wait PIDFILE" also covers the seconds before the node registers with epmd
        self.ctl(node, "wait", str(node.base / "pid"), "--timeout", "120")

    def ctl(self, node: Node, *args: str, check: bool = True) -> str:
        result = subprocess.run(
            ["rabbitmqctl", "-q", "-n", node.name, *args],
            capture_output=True,
            text=True,
            timeout=180,
        )
        if check and result.returncode != 0:
            raise RuntimeError(f"rabbitmqctl {' '.join(args)} on {node.name}: {result.stderr.strip()}")
        return result.stdout

    def running_nodes(self, via: Node | None = None) -> list[str]:
        via = via or next(n for n in self.nodes if self.alive(n))
        out = self.ctl(via, "eval", "rabbit_nodes:all_running().", check=False)
        return [n for n in (node.name for node in self.nodes) if n in out]

    def wait_running(self, count: int, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while len(self.running_nodes()) < count:
            if time.monotonic() > deadline:
                raise RuntimeError(f"fewer than {count} cluster nodes running after {timeout}s")
            time.sleep(1)

    def pid(self, node: Node) -> int | None:
        try:
            return int((node.base / "pid").read_text().strip())
        except (OSError, ValueError):
            return None

    def alive(self, node: Node) -> bool:
        pid = self.pid(node)
        if pid is None:
            return False
        try:
            os.kill(pid, 0)
        except OSError:
            return False
        return True

    # -- faults ----------------------------------------------------------------

    def kill(self, index: int) -> None:
        """kill -9 the node's Erlang VM: no goodbye to clients or peers."""
        node = self.nodes[index]
        pid = self.pid(node)
        if pid is not None:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 30
        while self.alive(node) and time.monotonic() < deadline:
            time.sleep(0.2)

    def start(self, index: int) -> None:
        """Restart a killed node on its old data: it rejoins the cluster by itself."""
        node = self.nodes[index]
        (node.base / "pid").unlink(missing_ok=True)
        self._launch(node)
        self._await(node)
        self.wait_running(len(self.nodes))

    def queues(self, node: Node | None = None) -> dict[str, dict]:
        """name → {messages, type, leader, members} as seen by a running node."""
        node = node or next(n for n in self.nodes if self.alive(n))
        out = self.ctl(node, "list_queues", "name", "messages", "type", "leader", "--no-table-headers")
        queues = {}
        for line in out.splitlines():
            parts = line.split("\t")
            if len(parts) >= 3:
                queues[parts[0]] = {
                    "messages": int(parts[1]) if parts[1].isdigit() else 0,
                    "type": parts[2],
                    "leader": parts[3] if len(parts) > 3 else "",
                }
        return queues

    def destroy(self) -> None:
        for node in self.nodes:
            if self.alive(node):
                self.ctl(node, "stop", check=False)
        for index, node in enumerate(self.nodes):
            if self.alive(node):
                self.kill(index)
        shutil.rmtree(self.root, ignore_errors=True)

"""Start a head and worker Ray nodes on this machine as separate `ray start --block` processes.

Every node gets its own free ports and a private temp folder, so these nodes neither
collide with nor get joined by other Ray instances on the machine (ray.init() joins the
cluster recorded in the default temp folder). Nodes are stopped by killing their process
trees by id; `ray stop` is never used because it stops every Ray process on the machine.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from tests.process_tree import kill_tree

RAY = str(Path(sys.executable).with_name("ray"))
PORT_OPTIONS = (
    "--node-manager-port",
    "--object-manager-port",
    "--metrics-export-port",
    "--dashboard-agent-listen-port",
    "--dashboard-agent-grpc-port",
    "--runtime-env-agent-port",
)


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    for sock in sockets:
        sock.bind(("", 0))
    ports = [sock.getsockname()[1] for sock in sockets]
    for sock in sockets:
        sock.close()
    return ports


def node_ip() -> str:
    """Return the address Ray binds to on this machine (its own, not loopback)."""
    import ray._private.services

    return ray._private.services.get_node_ip_address()


def ray_env() -> dict[str, str]:
    """Return the environment for nodes and drivers: token authentication on, no inherited address."""
    env = {key: value for key, value in os.environ.items() if key != "RAY_ADDRESS"}
    env["RAY_AUTH_MODE"] = "token"
    return env


class LocalCluster:
    """A head node and ``workers`` worker nodes with ``cpus`` CPUs each, all on this machine."""

    def __init__(self, temp_dir: Path, cpus: int = 1, workers: int = 1, log_dir: Path | None = None):
        self.temp_dir = temp_dir
        self.cpus = cpus
        self.workers = workers
        self.log_dir = log_dir or temp_dir
        self.processes: list[subprocess.Popen] = []
        self.address = ""

    def _start_node(self, role: str, extra: list[str]) -> None:
        ports = free_ports(len(PORT_OPTIONS) + 2)
        options = [f"{option}={port}" for option, port in zip(PORT_OPTIONS, ports)]
        options += [f"--min-worker-port={ports[-2]}", f"--max-worker-port={ports[-2] + 40}"]
        log = open(self.log_dir / f"{role}.log", "w")
        command = [RAY, "start", "--block", f"--num-cpus={self.cpus}", "--num-gpus=0", *options, *extra]
        self.processes.append(subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=ray_env()))

    def start(self, timeout_s: float = 120) -> str:
        """Start the nodes; return the head's address once every node has joined."""
        self.temp_dir.mkdir(parents=True, exist_ok=True)
        (head_port,) = free_ports(1)
        self.address = f"{node_ip()}:{head_port}"
        self._start_node("head", ["--head", f"--port={head_port}", "--include-dashboard=false", f"--temp-dir={self.temp_dir}"])
        self._wait_for_port(head_port, timeout_s)
        for index in range(self.workers):
            self._start_node(f"worker{index}", [f"--address={self.address}"])
        self._wait_for_nodes(1 + self.workers, timeout_s)
        return self.address

    def _wait_for_port(self, port: int, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with socket.socket() as sock:
                if sock.connect_ex((node_ip(), port)) == 0:
                    return
            self._check_alive()
            time.sleep(0.5)
        raise TimeoutError(f"the head node did not open port {port} within {timeout_s} s; see {self.log_dir}/head.log")

    def _wait_for_nodes(self, count: int, timeout_s: float) -> None:
        script = (
            "import ray, sys, time\n"
            f"ray.init(address={self.address!r}, logging_level='ERROR')\n"
            f"deadline = time.monotonic() + {timeout_s}\n"
            f"while len([n for n in ray.nodes() if n['Alive']]) < {count} and time.monotonic() < deadline:\n"
            "    time.sleep(0.5)\n"
            f"sys.exit(0 if len([n for n in ray.nodes() if n['Alive']]) >= {count} else 1)\n"
        )
        result = subprocess.run([sys.executable, "-c", script], env=ray_env(), capture_output=True, text=True, timeout=timeout_s + 60)
        if result.returncode != 0:
            raise TimeoutError(f"fewer than {count} Ray nodes joined within {timeout_s} s: {result.stderr[-2000:]}")

    def _check_alive(self) -> None:
        for process in self.processes:
            if process.poll() is not None:
                raise RuntimeError(f"a `ray start` process exited with code {process.returncode}; see the logs in {self.log_dir}")

    def stop(self) -> None:
        """Kill every node's process tree, workers first."""
        for process in reversed(self.processes):
            kill_tree(process.pid)
            process.wait()
        self.processes.clear()

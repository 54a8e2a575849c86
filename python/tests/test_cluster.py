"""``connect(cluster=...)``: queries on a real Ballista cluster (``rollout-scheduler`` and a
``rollout-executor`` as separate processes on loopback, binaries from python/ci.sh), with
datasets resolved in Python's session for its consumer."""

from __future__ import annotations

import os
import socket
import subprocess
import time
import urllib.request

import pytest

import datafusion_rollout as dr

from conftest import count

SCHEDULER = os.environ.get("ROLLOUT_SCHEDULER_BIN")
EXECUTOR = os.environ.get("ROLLOUT_EXECUTOR_BIN")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def cluster(store, tmp_path):
    for binary in (SCHEDULER, EXECUTOR):
        assert binary and os.path.exists(binary), "python/ci.sh sets ROLLOUT_SCHEDULER_BIN / ROLLOUT_EXECUTOR_BIN"
    port = free_port()
    logs = open(tmp_path / "cluster.log", "w")
    procs = [
        subprocess.Popen(
            [SCHEDULER, "--store", str(store), "--bind-host", "127.0.0.1", "-p", str(port)],
            stdout=logs,
            stderr=subprocess.STDOUT,
        )
    ]
    procs.append(
        subprocess.Popen(
            [EXECUTOR, "--store", str(store), "--bind-host", "127.0.0.1", "--external-host", "127.0.0.1",
             "--scheduler-host", "127.0.0.1", "--scheduler-port", str(port),
             "--scheduler-connect-timeout-seconds", "30", "-c", "2",
             "-p", str(free_port()), "--bind-grpc-port", str(free_port()),
             "--bind-health-port", str(free_port()), "--work-dir", str(tmp_path)],
            stdout=logs,
            stderr=subprocess.STDOUT,
        )
    )
    try:
        deadline = time.time() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            assert time.time() < deadline, open(tmp_path / "cluster.log").read()[-3000:]
            time.sleep(0.2)
        yield f"df://127.0.0.1:{port}", port
    finally:
        for p in procs:
            p.kill()
            p.wait()


def jobs(port):
    import json

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/jobs", timeout=5) as r:
        return len(json.load(r))


def test_consumers_read_their_versions_on_the_cluster(store, cluster):
    url, port = cluster
    before = jobs(port)
    with dr.connect(store, consumer="alice", cluster=url) as alice, dr.connect(
        store, consumer="bob", cluster=url
    ) as bob:
        assert count(alice) == 1500
        assert count(bob) == 1000
        total = "SELECT sum(amount) AS n FROM orders"
        with dr.connect(store, consumer="alice") as local:
            assert count(alice, total) == count(local, total)
    assert jobs(port) >= before + 3, "the queries did not run on the cluster"


def test_a_bad_cluster_address_is_refused(store):
    with pytest.raises(ValueError, match="df://host:port"):
        dr.connect(store, cluster="grpc://somewhere:1")

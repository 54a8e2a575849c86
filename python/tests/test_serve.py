"""`rollout serve` over Arrow Flight SQL, from Python through ADBC (adbc-driver-flightsql).

The real binary (``ROLLOUT_BIN``, set by python/ci.sh) serves a local store on a free loopback
port; clients log in with a user name and password (the Flight handshake, unpadded base64 as the
Go driver sends it) or with an API token as the bearer.
"""

from __future__ import annotations

import json
import os
import ssl
import urllib.error
import urllib.request
import signal
import subprocess
import time

import pytest

import datafusion_rollout as dr

import adbc_driver_flightsql.dbapi as flightsql
from adbc_driver_flightsql import DatabaseOptions

BIN = os.environ.get("ROLLOUT_BIN")


@pytest.fixture
def served(tmp_path):
    assert BIN and os.path.exists(BIN), "ROLLOUT_BIN must name the rollout binary (python/ci.sh)"
    path = tmp_path / "store"
    s = dr.connect(path, actor="setup")
    s.sql(
        """
        CREATE DATASET orders;
        CREATE VERSION 'v1' OF orders AS SELECT value AS id, 1 AS v FROM generate_series(1, 10);
        CREATE VERSION 'v2' OF orders AS SELECT value AS id, 2 AS v FROM generate_series(1, 10);
        PROMOTE orders TO 'v1';
        CREATE COHORT canary MEMBERS ('alice');
        CREATE USER admin PASSWORD 'admin-password';
        CREATE USER alice PASSWORD 'alice-pw12';
        CREATE USER bob PASSWORD 'bob-password';
        CREATE USER carol PASSWORD 'carol-password';
        CREATE USER svc;
        CREATE ROLE release;
        GRANT ROLE release TO alice;
        GRANT ROLE release TO carol;
        GRANT READ, PROMOTE, ROLLBACK ON DATASET orders TO ROLE release;
        GRANT READ ON ALL DATASETS TO bob;
        GRANT READ ON DATASET orders TO svc
        """
    )
    s.close()
    proc, listening = start(path)
    yield listening["flight"], path
    stop(proc)


TLS = os.path.join(os.path.dirname(__file__), "..", "..", "tests", "fixtures", "tls")


def start(path, *extra):
    """Starts `rollout serve` on free loopback ports, logging JSON; returns the process and its
    `listening` log line."""
    proc = subprocess.Popen(
        [BIN, "--store", str(path), "serve", "--flight", "127.0.0.1:0", "--controller-interval", "0s",
         "--log-format", "json", *extra],
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.time() + 60
    lines = []
    while time.time() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        lines.append(line)
        record = json.loads(line)
        assert {"ts", "level", "event"} <= record.keys(), record
        if record["event"] == "listening":
            return proc, record
    proc.kill()
    raise AssertionError(f"the server did not start: {''.join(lines)}")


def stop(proc):
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0, proc.stderr.read()
    # Every line it logged is one JSON object.
    for line in proc.stderr.read().splitlines():
        json.loads(line)


def login(uri, user, password):
    return flightsql.connect(uri, db_kwargs={"username": user, "password": password})


def one(conn, sql):
    with conn.cursor() as cur:
        cur.execute(sql)
        return cur.fetch_arrow_table().column(0)[0].as_py()


def test_each_user_reads_their_own_version_through_the_same_select(served):
    uri, _ = served
    # 'alice:alice-pw12' is 16 bytes: its base64 needs padding, which the Go driver leaves out.
    with login(uri, "alice", "alice-pw12") as alice, login(uri, "bob", "bob-password") as bob:
        one(alice, "PROMOTE orders TO 'v2' FOR COHORT canary REASON 'try v2'")
        assert one(alice, "SELECT max(v) FROM orders") == 2
        assert one(bob, "SELECT max(v) FROM orders") == 1
        with alice.cursor() as cur:
            cur.execute("SELECT id, v FROM orders ORDER BY id")
            table = cur.fetch_arrow_table()
            assert table.num_rows == 10
            df = table.to_pandas()
            assert set(df["v"]) == {2}


def test_refusals_name_the_privilege_and_change_nothing(served):
    uri, path = served
    with login(uri, "alice", "alice-pw12") as alice, login(uri, "bob", "bob-password") as bob:
        with pytest.raises(Exception, match="IMPERSONATE"):
            one(alice, "SET rollout.consumer = 'bob'")
        with pytest.raises(Exception, match="bob lacks PROMOTE ON DATASET orders"):
            one(bob, "PROMOTE orders TO 'v2'")
        one(alice, "PROMOTE orders TO 'v2' FOR COHORT canary REASON 'by alice'")
    admin = dr.connect(path, user="admin", password="admin-password")
    history = admin.sql("SHOW HISTORY OF orders").to_arrow().to_pylist()
    promotes = [h for h in history if h["operation"] == "PROMOTE"]
    assert [h["actor"] for h in promotes] == ["setup", "alice"], promotes
    admin.close()


def test_wrong_password_and_tokens(served):
    uri, _ = served
    with pytest.raises(Exception, match="(?i)unauthenticated|wrong user name or password"):
        with login(uri, "alice", "wrong-password") as conn:
            one(conn, "SELECT 1")
    with login(uri, "admin", "admin-password") as admin:
        with admin.cursor() as cur:
            cur.execute("CREATE TOKEN FOR svc")
            token = cur.fetch_arrow_table().column("token")[0].as_py()
    conn = flightsql.connect(
        uri, db_kwargs={DatabaseOptions.AUTHORIZATION_HEADER.value: f"Bearer {token}"}
    )
    with conn:
        assert one(conn, "SELECT count(*) FROM orders") == 10


def test_a_promote_waits_for_a_second_principal(served):
    uri, path = served
    with login(uri, "admin", "admin-password") as admin:
        one(admin, "ALTER DATASET orders SET APPROVALS 2 FOR (PROMOTE)")
    with login(uri, "alice", "alice-pw12") as alice, login(uri, "carol", "carol-password") as carol:
        with alice.cursor() as cur:
            cur.execute("PROMOTE orders TO 'v2' FOR COHORT canary REASON 'four eyes'")
            message = cur.fetch_arrow_table().column(0)[0].as_py()
        assert "pending approval" in message, message
        assert one(alice, "SELECT max(v) FROM orders") == 1
        with pytest.raises(Exception, match="another principal must approve it"):
            one(alice, "APPROVE PROMOTE orders TO 'v2' FOR COHORT canary")
        one(carol, "APPROVE PROMOTE orders TO 'v2' FOR COHORT canary")
        assert one(alice, "SELECT max(v) FROM orders") == 2
    admin = dr.connect(path, user="admin", password="admin-password")
    history = admin.sql("SHOW HISTORY OF orders").to_arrow().to_pylist()
    assert [h["operation"] for h in history[-2:]] == ["REQUEST APPROVAL", "PROMOTE"], history
    assert history[-1]["actor"] == "alice"
    admin.close()


def get(url, bearer=None, context=None):
    request = urllib.request.Request(url)
    if bearer:
        request.add_header("Authorization", f"Bearer {bearer}")
    try:
        with urllib.request.urlopen(request, timeout=10, context=context) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def test_tls_metrics_and_health_from_python(tmp_path):
    path = tmp_path / "store"
    s = dr.connect(path, actor="setup")
    s.sql(
        """
        CREATE DATASET orders;
        CREATE VERSION 'v1' OF orders AS SELECT value AS id, 1 AS v FROM generate_series(1, 10);
        PROMOTE orders TO 'v1';
        CREATE USER admin PASSWORD 'admin-password';
        CREATE USER grafana;
        GRANT READ ON ALL DATASETS TO grafana
        """
    )
    token = s.sql("CREATE TOKEN FOR grafana").to_arrow().column("token")[0].as_py()
    s.close()
    proc, listening = start(
        path,
        "--http", "127.0.0.1:0",
        "--tls-cert", os.path.join(TLS, "server.pem"),
        "--tls-key", os.path.join(TLS, "server.key"),
    )
    try:
        flight, http = listening["flight"], listening["http"]
        assert flight.startswith("grpc+tls://") and http.startswith("https://"), listening
        port = flight.rsplit(":", 1)[1]
        with open(os.path.join(TLS, "ca.pem")) as f:
            ca = f.read()
        conn = flightsql.connect(
            f"grpc+tls://localhost:{port}",
            db_kwargs={
                "username": "admin",
                "password": "admin-password",
                DatabaseOptions.TLS_ROOT_CERTS.value: ca,
            },
        )
        with conn:
            assert one(conn, "SELECT sum(v) FROM orders") == 10
        trusted = ssl.create_default_context(cafile=os.path.join(TLS, "ca.pem"))
        base = "https://localhost:" + http.rsplit(":", 1)[1]
        status, body = get(f"{base}/healthz", context=trusted)
        assert status == 200 and json.loads(body)["status"] == "ok", body
        status, body = get(f"{base}/metrics", context=trusted)
        assert status == 401, body
        status, body = get(f"{base}/metrics", bearer=token, context=trusted)
        assert status == 200, body
        assert 'rollout_reads_total{dataset="orders",version="v1",arm="stable"} 1' in body, body
        # A client that does not trust the certificate gets nothing.
        with pytest.raises(urllib.error.URLError):
            urllib.request.urlopen(f"{base}/healthz", timeout=10)
    finally:
        stop(proc)


def test_mutual_tls_from_python(tmp_path):
    """``--tls-client-ca``: the ADBC driver presents its client certificate (the
    ``adbc.flight.sql.client_option.mtls_*`` options); without one it is refused."""
    path = tmp_path / "store"
    s = dr.connect(path, actor="setup")
    s.sql(
        """
        CREATE DATASET orders;
        CREATE VERSION 'v1' OF orders AS SELECT value AS id, 1 AS v FROM generate_series(1, 10);
        PROMOTE orders TO 'v1';
        CREATE USER admin PASSWORD 'admin-password'
        """
    )
    s.close()
    proc, listening = start(
        path,
        "--tls-cert", os.path.join(TLS, "server.pem"),
        "--tls-key", os.path.join(TLS, "server.key"),
        "--tls-client-ca", os.path.join(TLS, "client-ca.pem"),
    )
    try:
        assert listening["client_certificates"] == "required", listening
        port = listening["flight"].rsplit(":", 1)[1]

        def read(name):
            with open(os.path.join(TLS, name)) as f:
                return f.read()

        def connect(client):
            options = {
                "username": "admin",
                "password": "admin-password",
                DatabaseOptions.TLS_ROOT_CERTS.value: read("ca.pem"),
            }
            if client:
                options[DatabaseOptions.MTLS_CERT_CHAIN.value] = read(f"{client}.pem")
                options[DatabaseOptions.MTLS_PRIVATE_KEY.value] = read(f"{client}.key")
            return flightsql.connect(f"grpc+tls://localhost:{port}", db_kwargs=options)

        with connect("client") as conn:
            assert one(conn, "SELECT sum(v) FROM orders") == 10
        for refused in (None, "stranger"):
            with pytest.raises(Exception) as refusal:
                with connect(refused) as conn:
                    one(conn, "SELECT sum(v) FROM orders")
            # The TLS handshake fails: the driver never gets to log in.
            assert "UNAVAILABLE" in str(refusal.value).upper(), (refused, refusal.value)
    finally:
        stop(proc)

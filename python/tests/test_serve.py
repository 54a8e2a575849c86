"""`rollout serve` over Arrow Flight SQL, from Python through ADBC (adbc-driver-flightsql).

The real binary (``ROLLOUT_BIN``, set by python/ci.sh) serves a local store on a free loopback
port; clients log in with a user name and password (the Flight handshake, unpadded base64 as the
Go driver sends it) or with an API token as the bearer.
"""

from __future__ import annotations

import os
import re
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
    proc = subprocess.Popen(
        [BIN, "--store", str(path), "serve", "--flight", "127.0.0.1:0", "--controller-interval", "0s"],
        stderr=subprocess.PIPE,
        text=True,
    )
    uri = None
    deadline = time.time() + 60
    lines = []
    while time.time() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        lines.append(line)
        m = re.search(r"flight=(grpc://\S+)", line)
        if m:
            uri = m.group(1)
            break
    assert uri, f"the server did not start: {''.join(lines)}"
    yield uri, path
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0, proc.stderr.read()


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

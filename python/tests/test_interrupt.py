"""The GIL is released while a query runs, and SIGINT (Ctrl-C, a kernel interrupt) stops it."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import pytest

import datafusion_rollout as dr

LONG = "SELECT count(*) FROM generate_series(1, 100000000000) a"

# The scenario runs in a fresh interpreter: what Ctrl-C does depends on the process's signal
# handlers, which libraries loaded by other tests of this session may have changed (one CI run
# hung here after the whole suite, SIGINT no longer reaching Python). The parent's timeout turns
# a query that is not interrupted into a failure that says so, not a hung suite.
INTERRUPTED = f"""
import os, signal, sys, threading, time
import datafusion_rollout as dr

s = dr.connect("memory://interrupt")
timer = threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT))
start = time.monotonic()
timer.start()
try:
    s.sql({LONG!r})
    sys.exit("the query ended without being interrupted")
except KeyboardInterrupt:
    pass
finally:
    timer.cancel()
elapsed = time.monotonic() - start
assert elapsed < 10, f"interrupted after {{elapsed:.1f}} s"
# The session still works.
assert s.sql("SELECT 1 AS x").to_pylist() == [{{"x": 1}}]
print("interrupted")
"""


@pytest.mark.skipif(os.name != "posix", reason="sends SIGINT")
def test_keyboard_interrupt_stops_a_long_query():
    try:
        done = subprocess.run(
            [sys.executable, "-c", INTERRUPTED], capture_output=True, text=True, timeout=60
        )
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"SIGINT did not stop the query within 60 s: {e.stderr!r}")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "interrupted"


def test_gil_released_while_querying():
    s = dr.connect("memory://gil")
    ticks = []
    done = threading.Event()

    def tick():
        while not done.is_set():
            ticks.append(time.monotonic())
            time.sleep(0.01)

    t = threading.Thread(target=tick)
    t.start()
    try:
        s.sql("SELECT count(*) FROM generate_series(1, 30000000)")
    finally:
        done.set()
        t.join()
    # The other thread kept running while the query held no GIL.
    assert len(ticks) > 5

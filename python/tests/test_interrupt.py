"""The GIL is released while a query runs, and SIGINT (Ctrl-C, a kernel interrupt) stops it."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

import datafusion_rollout as dr

LONG = "SELECT count(*) FROM generate_series(1, 100000000000) a"


@pytest.mark.skipif(os.name != "posix", reason="sends SIGINT")
def test_keyboard_interrupt_stops_a_long_query():
    s = dr.connect("memory://interrupt")
    timer = threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT))
    start = time.monotonic()
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            s.sql(LONG)
    finally:
        timer.cancel()
    assert time.monotonic() - start < 10
    # The session still works.
    assert s.sql("SELECT 1 AS x").to_pylist() == [{"x": 1}]


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

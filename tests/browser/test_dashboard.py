"""The dashboard in a real browser: Debian's Chromium driven by its chromedriver through Debian's
python3-selenium (run with /usr/bin/python3), against the real `rollout serve` binary over
loopback, on a real store made with the real `rollout` shell.

    ROLLOUT_BIN=target/debug/rollout /usr/bin/python3 tests/browser/test_dashboard.py

Screenshots go to $ROLLOUT_SCREENSHOTS (default target/browser-screenshots); they are not
committed. Without /usr/bin/chromedriver the tests are skipped (and say so); CI installs it and
fails if they are skipped (.ci/run checks the output).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
import unittest
import urllib.error
import urllib.request

BIN = os.environ.get("ROLLOUT_BIN", "target/debug/rollout")
DRIVER = "/usr/bin/chromedriver"
CHROMIUM = "/usr/bin/chromium"
SHOTS = os.environ.get("ROLLOUT_SCREENSHOTS", "target/browser-screenshots")
HOSTILE_COMMENT = '<script>window.__pwned = 1</script>"><img src=x onerror="window.__pwned = 2">'

try:
    from selenium import webdriver
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait
except ImportError:  # pragma: no cover - reported as a skip below
    webdriver = None


def rollout(store, sql, user=None, password=None):
    """Runs `sql` with the rollout shell on `store` (as `user` when given)."""
    env = dict(os.environ)
    args = [BIN, "--store", store, "-q"]
    if user:
        args += ["--user", user]
        env["ROLLOUT_PASSWORD"] = password
    out = subprocess.run(args + ["-c", sql], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, f"{sql}\n{out.stdout}\n{out.stderr}"
    return out.stdout


def make_store(root):
    """Two numeric versions of orders in a staged AUTO rollout with a live guard, a dataset
    with hostile text, and users with different grants."""
    data = os.path.join(root, "data")
    store = os.path.join(root, "store")
    os.makedirs(data)
    rollout(
        store,
        f"""
        CREATE DATASET orders COMMENT 'orders of the shop';
        CREATE VERSION 'v1' OF orders AS
          SELECT value AS order_id, (value % 97) * 1.5 AS amount,
                 CASE WHEN value % 3 = 0 THEN 'eu' ELSE 'us' END AS region
          FROM generate_series(1, 2000);
        CREATE VERSION 'v2' OF orders AS
          SELECT value AS order_id, (value % 97) * 1.9 AS amount,
                 CASE WHEN value % 2 = 0 THEN 'eu' ELSE 'us' END AS region
          FROM generate_series(1, 2100);
        PROMOTE orders TO 'v1' REASON 'first load';
        CREATE CONTRACT orders_contract FOR orders (
          order_id BIGINT NOT NULL,
          EXPECT read_error_rate() <= 0.01,
          EXPECT latency_ratio() <= 50
        );
        CREATE DATASET hostile COMMENT '{HOSTILE_COMMENT.replace("'", "''")}';
        CREATE VERSION 'v1' OF hostile AS SELECT 1 AS n;
        PROMOTE hostile TO 'v1' REASON '<img src=x onerror="window.__pwned = 3">';
        CREATE USER admin PASSWORD 'admin-password';
        CREATE USER alice PASSWORD 'alice-password';
        CREATE USER bob PASSWORD 'bob-password';
        CREATE ROLE release;
        GRANT ROLE release TO alice;
        GRANT READ, PROMOTE, ROLLBACK ON DATASET orders TO ROLE release;
        GRANT READ ON ALL DATASETS TO alice;
        GRANT READ ON ALL DATASETS TO bob
        """,
    )
    rollout(
        store,
        "PROMOTE orders TO 'v2' IN STAGES (10, 50, 100) EVERY INTERVAL '1 hour' AUTO "
        "REASON 'staged rollout of the new pricing'",
        user="admin",
        password="admin-password",
    )
    return store


def start(store, log_path):
    """`rollout serve` with HTTP on free loopback ports and a controller every second; its log
    goes to a file (a pipe nobody reads would fill and stall it)."""
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [BIN, "--store", store, "serve", "--flight", "127.0.0.1:0", "--http", "127.0.0.1:0",
             "--controller-interval", "1s", "--log-format", "json"],
            stderr=log,
            stdout=subprocess.DEVNULL,
        )
    deadline = time.time() + 60
    while time.time() < deadline:
        with open(log_path) as f:
            for line in f:
                record = json.loads(line)
                if record.get("event") == "listening":
                    return proc, record["http"]
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    proc.kill()
    raise AssertionError("the server did not start: " + open(log_path).read())


def api(base, path, token=None, body=None):
    """A call to the JSON API: (status, decoded body)."""
    headers = {"content-type": "application/json"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(base + path, data=data, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


@unittest.skipIf(webdriver is None or not os.path.exists(DRIVER) or not os.path.exists(CHROMIUM),
                 "SKIPPED: needs Debian's chromium, chromium-driver and python3-selenium")
class Dashboard(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.root = tempfile.mkdtemp(prefix="rollout-browser-")
        cls.store = make_store(cls.root)
        token = rollout(cls.store, "CREATE TOKEN FOR admin", user="admin", password="admin-password")
        cls.admin_token = next(w for w in token.replace("|", " ").split() if w.startswith("rollout_"))
        cls.proc, cls.base = start(cls.store, os.path.join(cls.root, "serve.log"))
        os.makedirs(SHOTS, exist_ok=True)
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for a in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,900"):
            options.add_argument(a)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        cls.driver = webdriver.Chrome(service=Service(DRIVER), options=options)

    @classmethod
    def tearDownClass(cls):
        cls.driver.quit()
        cls.proc.terminate()
        cls.proc.wait(timeout=30)
        shutil.rmtree(cls.root, ignore_errors=True)

    # -- helpers ---------------------------------------------------------------------------
    def wait(self, condition, timeout=20, what="the page"):
        try:
            return WebDriverWait(self.driver, timeout).until(lambda d: condition(d))
        except TimeoutException:
            self.driver.save_screenshot(os.path.join(SHOTS, "timeout.png"))
            self.fail(f"timed out waiting for {what}; page:\n{self.driver.page_source[:4000]}")

    def ready(self):
        self.wait(lambda d: d.find_element(By.ID, "main").get_attribute("data-ready") == "1",
                  what="data-ready")

    def console_errors(self):
        return [e for e in self.driver.get_log("browser") if e["level"] == "SEVERE"]

    def login(self, user, password):
        d = self.driver
        d.delete_all_cookies()
        d.get(self.base + "/")
        self.wait(lambda d: "/login" in d.current_url, what="the login page")
        d.find_element(By.ID, "user").send_keys(user)
        d.find_element(By.ID, "password").send_keys(password)
        d.find_element(By.CSS_SELECTOR, "form.login button[type=submit]").click()
        self.wait(lambda d: d.find_elements(By.CSS_SELECTOR, "table.datasets"), what="the overview")

    def last_entry(self):
        status, history = api(self.base, "/api/datasets/orders/history?limit=1", self.admin_token)
        self.assertEqual(status, 200, history)
        return history[0]

    # -- tests (run in name order) ---------------------------------------------------------
    def test_1_overview_and_a_live_staged_rollout(self):
        d = self.driver
        self.login("alice", "alice-password")
        links = [a.text for a in d.find_elements(By.CSS_SELECTOR, "a.dataset-link")]
        self.assertEqual(links, ["hostile", "orders"])
        d.save_screenshot(os.path.join(SHOTS, "overview.png"))

        d.find_element(By.LINK_TEXT, "orders").click()
        self.ready()
        main = d.find_element(By.ID, "main")
        self.assertIn("staged rollout", main.text)
        self.assertIn("1 of 3", main.text)
        # The drift panel: one histogram per column, bars of both versions.
        self.wait(lambda d: len(d.find_elements(By.CSS_SELECTOR, "svg.hist")) == 3, what="the drift panel")
        self.assertTrue(d.find_elements(By.CSS_SELECTOR, "svg.hist rect.candidate"))
        # The controller evaluates every second: the guards' chart appears (live refresh).
        self.wait(lambda d: d.find_elements(By.CSS_SELECTOR, "figure.guard-chart svg"), timeout=30,
                  what="the guard evaluations chart")
        d.save_screenshot(os.path.join(SHOTS, "dataset.png"))

        # Another operator advances the rollout; the open page shows it without a reload.
        marker = d.execute_script("window.__same_page = 42; return window.__same_page")
        status, body = api(self.base, "/api/datasets/orders/advance", self.admin_token,
                           {"reason": "soak waived for the test", "force": True})
        self.assertEqual(status, 200, body)
        self.wait(lambda d: "2 of 3" in d.find_element(By.ID, "main").text, timeout=20,
                  what="the live refresh to show stage 2")
        self.assertEqual(d.execute_script("return window.__same_page"), marker)

        # Readable on a phone: nothing wider than the screen but the tables' own scrollers.
        d.set_window_size(390, 844)
        width = d.execute_script("return document.documentElement.scrollWidth")
        inner = d.execute_script("return window.innerWidth")
        self.assertLessEqual(width, inner + 1)
        d.save_screenshot(os.path.join(SHOTS, "dataset-phone.png"))
        d.set_window_size(1280, 900)
        self.assertEqual(self.console_errors(), [])

    def test_2_rollback_by_keyboard_with_a_reason_and_confirmation(self):
        d = self.driver
        self.login("alice", "alice-password")
        d.get(self.base + "/datasets/orders")
        self.ready()
        before = self.last_entry()["sequence"]
        button = d.find_element(By.ID, "btn-rollback")
        button.send_keys(Keys.ENTER)  # keyboard: the focused button opens the dialog
        self.wait(lambda d: d.find_element(By.ID, "confirm").get_attribute("open") is not None,
                  what="the confirmation dialog")
        # Confirming without a reason commits nothing.
        d.find_element(By.ID, "confirm-ok").send_keys(Keys.ENTER)
        self.wait(lambda d: d.find_element(By.ID, "confirm-error").is_displayed(), what="the reason error")
        self.assertEqual(self.last_entry()["sequence"], before)
        reason = d.find_element(By.ID, "confirm-reason")
        reason.send_keys("amounts look wrong on the canary")
        reason.send_keys(Keys.TAB, Keys.TAB)  # past Cancel to Confirm
        d.switch_to.active_element.send_keys(Keys.ENTER)
        self.wait(lambda d: "rolled_back" in d.find_element(By.ID, "main").text, what="the rollback on the page")
        entry = self.last_entry()
        self.assertEqual(entry["operation"], "ROLLBACK")
        self.assertEqual(entry["actor"], "alice")
        self.assertEqual(entry["reason"], "amounts look wrong on the canary")
        timeline = d.find_element(By.CSS_SELECTOR, "ol.timeline li").text
        self.assertIn("ROLLBACK", timeline)
        self.assertIn("alice", timeline)
        self.assertEqual(self.console_errors(), [])

    def test_3_without_rollback_no_button_and_a_forged_post_is_refused(self):
        d = self.driver
        status, body = api(self.base, "/api/datasets/orders/promote", self.admin_token,
                           {"reason": "canary again", "version": "v2", "exposure": {"percent": 5}})
        self.assertEqual(status, 200, body)
        self.login("bob", "bob-password")
        d.get(self.base + "/datasets/orders")
        self.ready()
        self.assertEqual(d.find_elements(By.CSS_SELECTOR, "button[data-action]"), [])
        before = self.last_entry()["sequence"]
        # From the page itself (bob's own session and CSRF token): refused, he lacks ROLLBACK.
        result = d.execute_async_script(
            """
            const done = arguments[arguments.length - 1];
            const csrf = document.querySelector('meta[name="csrf-token"]').content;
            fetch('/api/datasets/orders/rollback', {method: 'POST', credentials: 'same-origin',
                  headers: {'content-type': 'application/json', 'x-rollout-csrf': csrf},
                  body: JSON.stringify({reason: 'forged'})})
              .then(r => r.json().then(j => done([r.status, j.error])));
            """
        )
        self.assertEqual(result[0], 403, result)
        self.assertIn("ROLLBACK", result[1])
        # Without the token (what another site could send with the cookie): refused too.
        result = d.execute_async_script(
            """
            const done = arguments[arguments.length - 1];
            fetch('/api/datasets/orders/rollback', {method: 'POST', credentials: 'same-origin',
                  headers: {'content-type': 'application/json'}, body: JSON.stringify({reason: 'x'})})
              .then(r => done(r.status));
            """
        )
        self.assertEqual(result, 403)
        self.assertEqual(self.last_entry()["sequence"], before)
        # The refusals above are the page's own fetches; the console shows only those two.
        errors = [e for e in self.console_errors() if "403" not in e["message"]]
        self.assertEqual(errors, [])

    def test_4_hostile_text_renders_as_text(self):
        d = self.driver
        self.login("alice", "alice-password")
        d.get(self.base + "/datasets/hostile")
        self.ready()
        main = d.find_element(By.ID, "main").text
        self.assertIn("<script>window.__pwned = 1</script>", main)
        self.assertIn('<img src=x onerror="window.__pwned = 3">', main)
        self.assertIsNone(d.execute_script("return window.__pwned"))
        self.assertEqual(d.find_elements(By.CSS_SELECTOR, "main script, main img"), [])
        # A name in the URL that is no dataset: shown as text on the 404 page.
        d.get(self.base + "/datasets/%3Cscript%3Ewindow.__pwned%3D4%3C%2Fscript%3E")
        self.assertIn("<script>window.__pwned=4</script>", d.find_element(By.ID, "main").text)
        self.assertIsNone(d.execute_script("return window.__pwned"))
        errors = [e for e in self.console_errors() if "404" not in e["message"]]
        self.assertEqual(errors, [])

    def test_5_the_report_opens_from_a_file(self):
        d = self.driver
        path = os.path.join(self.root, "report.html")
        env = dict(os.environ, ROLLOUT_PASSWORD="admin-password")
        out = subprocess.run([BIN, "--store", self.store, "--user", "admin", "report", "orders", "-o", path],
                             env=env, capture_output=True, text=True, timeout=120)
        self.assertEqual(out.returncode, 0, out.stderr)
        d.get("file://" + path)
        self.assertEqual(d.find_element(By.CSS_SELECTOR, "h1 .dataset-name").text, "orders")
        self.assertTrue(d.find_elements(By.CSS_SELECTOR, "svg.hist rect"))
        self.assertTrue(d.find_elements(By.CSS_SELECTOR, "ol.timeline li"))
        # Styled from its own <style>: the badge has its colour without any stylesheet fetched.
        self.assertEqual(d.execute_script("return document.styleSheets.length"), 1)
        self.assertEqual(d.execute_script("return performance.getEntriesByType('resource').length"), 0)
        d.save_screenshot(os.path.join(SHOTS, "report.png"))
        self.assertEqual(self.console_errors(), [])


if __name__ == "__main__":
    unittest.main(verbosity=2)

// rollout dashboard: confirms and sends the buttons' changes, loads the drift panel, refreshes
// a live rollout. Everything it shows comes from this server; nothing is fetched elsewhere.
"use strict";
(function () {
  const csrf = document.querySelector('meta[name="csrf-token"]')?.content || "";
  const REFRESH_MS = 5000;

  function loadDrift(root, keep) {
    const slot = root.querySelector("[data-drift-src]");
    if (!slot) return Promise.resolve();
    const src = slot.dataset.driftSrc;
    if (keep && keep.dataset.driftSrc === src && keep.dataset.loaded === "1") {
      slot.replaceWith(keep);
      return Promise.resolve();
    }
    return fetch(src, { credentials: "same-origin" })
      .then((r) => r.text().then((t) => ({ ok: r.ok, t })))
      .then(({ t }) => {
        const doc = new DOMParser().parseFromString(t, "text/html");
        slot.replaceChildren(...doc.body.childNodes);
        slot.dataset.loaded = "1";
      })
      .catch((e) => { slot.textContent = "The drift panel did not load: " + e; });
  }

  function wire(main) {
    const dialog = main.querySelector("#confirm");
    if (!dialog) return;
    const form = main.querySelector("#confirm-form");
    const what = main.querySelector("#confirm-what");
    const reason = main.querySelector("#confirm-reason");
    const error = main.querySelector("#confirm-error");
    const ok = main.querySelector("#confirm-ok");
    let pending = null;
    main.querySelectorAll("button[data-action]").forEach((b) => {
      b.addEventListener("click", () => {
        const action = b.dataset.action;
        pending = { action, request: b.dataset.request ? Number(b.dataset.request) : undefined };
        const name = main.dataset.dataset;
        what.textContent = action === "rollback"
          ? "Roll back " + name + ": everyone reads the version rolled back to."
          : action === "advance" ? "Advance " + name + " to its next stage."
          : "Approve request #" + pending.request + " on " + name + ".";
        ok.textContent = action.charAt(0).toUpperCase() + action.slice(1);
        reason.value = "";
        error.hidden = true;
        dialog.showModal();
        reason.focus();
      });
    });
    main.querySelector("#confirm-cancel").addEventListener("click", () => dialog.close());
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      if (!pending) return;
      if (!reason.value.trim()) { error.textContent = "A reason is required."; error.hidden = false; return; }
      const body = { reason: reason.value };
      if (pending.request !== undefined) body.request = pending.request;
      ok.disabled = true;
      fetch(main.dataset.api + "/" + pending.action, {
        method: "POST",
        credentials: "same-origin",
        headers: { "content-type": "application/json", "x-rollout-csrf": csrf },
        body: JSON.stringify(body),
      })
        .then((r) => r.json().then((j) => ({ ok: r.ok, j })))
        .then(({ ok: good, j }) => {
          ok.disabled = false;
          if (!good) { error.textContent = j.error || "refused"; error.hidden = false; return; }
          dialog.close();
          refresh(true);
        })
        .catch((e) => { ok.disabled = false; error.textContent = String(e); error.hidden = false; });
    });
  }

  function refresh(force) {
    const main = document.getElementById("main");
    if (!main) return;
    if (!force && main.querySelector("dialog[open]")) return;
    fetch(location.pathname + location.search, { credentials: "same-origin" })
      .then((r) => r.text())
      .then((t) => {
        const doc = new DOMParser().parseFromString(t, "text/html");
        const next = doc.getElementById("main");
        const current = document.getElementById("main");
        if (!next || !current) return;
        if (!force && current.querySelector("dialog[open]")) return;
        const openDetails = new Set([...current.querySelectorAll("details[open]")].map((d, i) => i));
        const keep = current.querySelector("[data-drift-src]");
        current.replaceWith(next);
        [...next.querySelectorAll("details")].forEach((d, i) => { if (openDetails.has(i)) d.open = true; });
        wire(next);
        loadDrift(next, keep).then(() => { next.dataset.ready = "1"; });
      })
      .catch(() => {});
  }

  document.addEventListener("DOMContentLoaded", () => {
    const main = document.getElementById("main");
    if (!main) return;
    wire(main);
    loadDrift(main).then(() => { main.dataset.ready = "1"; });
    setInterval(() => {
      const m = document.getElementById("main");
      if (m && m.dataset.live === "true") refresh(false);
    }, REFRESH_MS);
  });
})();

// rollout dashboard: confirms and sends the buttons' changes, loads the drift panel, refreshes
// a live rollout in place. Everything it shows comes from this server; nothing is fetched
// elsewhere.
"use strict";
(function () {
  const csrf = document.querySelector('meta[name="csrf-token"]')?.content || "";
  const REFRESH_MS = 5000;
  let pending = null;

  const $ = (sel) => document.querySelector(sel);

  // The drift panel is computed once per pair of versions; a refresh keeps a loaded one.
  function loadDrift() {
    const slot = $("[data-drift-src]:not([data-loaded])");
    if (!slot) return Promise.resolve();
    slot.dataset.loaded = "0";
    return fetch(slot.dataset.driftSrc, { credentials: "same-origin" })
      .then((r) => r.text())
      .then((t) => {
        const doc = new DOMParser().parseFromString(t, "text/html");
        slot.replaceChildren(...doc.body.childNodes);
        slot.dataset.loaded = "1";
      })
      .catch((e) => { slot.textContent = "The drift panel did not load: " + e; });
  }

  function openDialog(button) {
    const main = $("#main");
    const dialog = $("#confirm");
    if (!dialog) return;
    const action = button.dataset.action;
    pending = { action, request: button.dataset.request ? Number(button.dataset.request) : undefined };
    const name = main.dataset.dataset;
    $("#confirm-what").textContent = action === "rollback"
      ? "Roll back " + name + ": its candidate is withdrawn, or the previous stable version restored."
      : action === "advance" ? "Advance " + name + " to its next stage."
      : "Approve request #" + pending.request + " on " + name + ".";
    $("#confirm-ok").textContent = action.charAt(0).toUpperCase() + action.slice(1);
    $("#confirm-reason").value = "";
    $("#confirm-error").hidden = true;
    dialog.showModal();
    $("#confirm-reason").focus();
  }

  function send(ev) {
    ev.preventDefault();
    if (!pending) return;
    const reason = $("#confirm-reason").value;
    const error = $("#confirm-error");
    const ok = $("#confirm-ok");
    if (!reason.trim()) { error.textContent = "A reason is required."; error.hidden = false; return; }
    const body = { reason };
    if (pending.request !== undefined) body.request = pending.request;
    ok.disabled = true;
    fetch($("#main").dataset.api + "/" + pending.action, {
      method: "POST",
      credentials: "same-origin",
      headers: { "content-type": "application/json", "x-rollout-csrf": csrf },
      body: JSON.stringify(body),
    })
      .then((r) => r.json().then((j) => ({ good: r.ok, j })))
      .then(({ good, j }) => {
        ok.disabled = false;
        if (!good) { error.textContent = j.error || "refused"; error.hidden = false; return; }
        pending = null;
        $("#confirm").close();
        refresh(true);
      })
      .catch((e) => { ok.disabled = false; error.textContent = String(e); error.hidden = false; });
  }

  // Replaces the sections whose content changed (a loaded drift panel stays if it compares
  // the same versions); the dialog and the focus stay where they are.
  function refresh(force) {
    const current = $("#main");
    if (!current || (!force && current.querySelector("dialog[open]"))) return;
    fetch(location.pathname + location.search, { credentials: "same-origin" })
      .then((r) => (r.ok ? r.text() : Promise.reject(r.status)))
      .then((t) => {
        const next = new DOMParser().parseFromString(t, "text/html").getElementById("main");
        if (!next) return;
        for (const key of ["sequence", "live"]) current.dataset[key] = next.dataset[key] || "";
        const parts = (m) => [...m.children].filter((c) => c.tagName !== "DIALOG");
        const old = parts(current);
        const fresh = parts(next);
        if (old.length !== fresh.length) {
          old.forEach((s) => s.remove());
          const anchor = current.querySelector(":scope > dialog");
          fresh.forEach((s) => current.insertBefore(document.adoptNode(s), anchor));
        } else {
          old.forEach((s, i) => {
            const n = fresh[i];
            const kept = s.querySelector("[data-drift-src][data-loaded='1']");
            const coming = n.querySelector("[data-drift-src]");
            if (kept && coming && kept.dataset.driftSrc === coming.dataset.driftSrc) {
              coming.replaceWith(kept.cloneNode(true));
            }
            if (s.innerHTML !== n.innerHTML) {
              const open = [...s.querySelectorAll("details")].map((d) => d.open);
              const adopted = document.adoptNode(n);
              [...adopted.querySelectorAll("details")].forEach((d, j) => { if (open[j]) d.open = true; });
              s.replaceWith(adopted);
            }
          });
        }
        return loadDrift();
      })
      .catch(() => {});
  }

  document.addEventListener("click", (ev) => {
    const button = ev.target.closest("button[data-action]");
    if (button) openDialog(button);
    if (ev.target.closest("#confirm-cancel")) { pending = null; $("#confirm").close(); }
  });

  document.addEventListener("DOMContentLoaded", () => {
    const main = $("#main");
    if (!main) return;
    const form = $("#confirm-form");
    if (form) form.addEventListener("submit", send);
    loadDrift().then(() => { main.dataset.ready = "1"; });
    setInterval(() => {
      const m = $("#main");
      if (m && m.dataset.live === "true") refresh(false);
    }, REFRESH_MS);
  });
})();

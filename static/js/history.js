/* The History panel: loaded when opened (GET /history?fragment=1, the same list the /history page
 * shows); each entry is a link that reopens the run in the editor. A run served a moment ago by
 * another worker process may not be written yet: when this page shows an outcome and the newest
 * entry is older than this page, the panel says so and asks again a little later. Each worker writes
 * its runs in batches (every PLAYGROUND_RUN_LOG_FLUSH_SECONDS), so this run may be written before an
 * earlier one another worker served: the panel also asks once more when every worker has written
 * what it served before this page (data-settle-ms after it loaded).
 */
(() => {
  "use strict";

  const panel = document.getElementById("history-panel");
  const body = document.getElementById("history-body");
  const wait = document.getElementById("history-wait");
  if (!panel || !body) return;
  const loadedAt = Date.now();
  const RETRY_MS = 2500;
  const RECENT_MS = 60_000;
  let tries = 0;

  function localTimes() {
    for (const time of body.querySelectorAll("time[datetime]")) {
      const when = new Date(time.getAttribute("datetime"));
      if (!Number.isNaN(when.getTime())) time.textContent = when.toLocaleString();
    }
  }

  function newestIsRecent() {
    const time = body.querySelector("time[datetime]");
    if (!time) return false;
    const when = new Date(time.getAttribute("datetime")).getTime();
    return loadedAt - when < RECENT_MS;
  }

  // The run this page shows is the newest entry once it is written: its SQL is the editor's as served
  // (an entry's SQL may be cut at 140 characters, ending in "..."). An earlier run still counts as
  // recent, so the time alone cannot tell that this one is missing.
  function newestIsThisRun() {
    const code = body.querySelector(".history-sql");
    const editor = document.getElementById("sql");
    if (!code || !editor) return false;
    const shown = editor.defaultValue.trim();
    const text = code.textContent.trim();
    if (text.endsWith("...")) return shown.startsWith(text.slice(0, -3).trimEnd());
    return text === shown;
  }

  async function load() {
    let response;
    try {
      response = await fetch(panel.dataset.url, { credentials: "same-origin" });
    } catch {
      return; // the link to the History page stays
    }
    if (!response.ok) return;
    body.innerHTML = await response.text(); // our own server's escaped HTML
    localTimes();
    const missing = panel.dataset.expectRecent && !(newestIsRecent() && newestIsThisRun());
    if (wait) {
      wait.hidden = !missing;
      wait.textContent = missing ? wait.dataset.text : "";
    }
    // Six tries (15 s): a run served by another worker shows once that worker writes its batch,
    // and without keep-alive (see cli.py) the panel's request often lands on the other worker.
    if (missing && tries++ < 6) {
      setTimeout(load, RETRY_MS);
      return;
    }
    const settleMs = Number(panel.dataset.settleMs || 0);
    const sinceLoad = Date.now() - loadedAt;
    if (sinceLoad < settleMs) setTimeout(load, settleMs - sinceLoad);
  }

  panel.addEventListener("toggle", () => {
    if (panel.open) {
      tries = 0;
      load();
    }
  });
})();

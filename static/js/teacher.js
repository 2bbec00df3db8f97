/* The teacher's class log refreshes by itself: every few seconds it asks for the log's lines (the
 * same filter, the same choice about parameter values; GET /teacher/log?fragment=1) and swaps them
 * in. Without JavaScript, the "Show / refresh" button does the same by reloading the page.
 */
(() => {
  "use strict";

  const box = document.getElementById("class-log");
  if (!box || !window.fetch) return;
  const url = box.dataset.url;
  const seconds = Number.parseInt(box.dataset.seconds, 10) || 3;
  const live = document.getElementById("log-live");
  if (live) live.hidden = false;
  let busy = false;
  let timer = null;

  function stop() {
    clearInterval(timer);
    if (live) live.textContent = live.dataset.stopped;
  }

  async function refresh() {
    if (busy || document.hidden) return;
    busy = true;
    try {
      const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "text/html" } });
      // An expired teacher session is sent to the login page: the log stops there and says so.
      if (!response.ok || response.redirected) {
        stop();
        return;
      }
      box.innerHTML = await response.text();
      box.dataset.refreshed = String(Date.now());
    } catch {
      stop();
    } finally {
      busy = false;
    }
  }

  timer = setInterval(refresh, seconds * 1000);
})();

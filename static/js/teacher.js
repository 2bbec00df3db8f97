// The teacher's class log refreshes by itself: every few seconds it asks for the log's lines
// (the same filter, the same choice about parameter values) and swaps them in. Without
// JavaScript, the "Show / refresh" button does the same by reloading the page.
(function () {
  "use strict";
  var box = document.getElementById("class-log");
  if (!box || !window.fetch) return;
  var url = box.getAttribute("data-url");
  var seconds = parseInt(box.getAttribute("data-seconds"), 10) || 3;
  var live = document.getElementById("log-live");
  if (live) live.hidden = false;
  var busy = false;

  function refresh() {
    if (busy || document.hidden) return;
    busy = true;
    fetch(url, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (response) {
        // A teacher session that expired is sent to the login page: the log stops there.
        if (!response.ok || response.redirected) throw new Error("stopped");
        return response.text();
      })
      .then(function (html) {
        box.innerHTML = html;
        box.setAttribute("data-refreshed", String(Date.now()));
      })
      .catch(function () {
        if (live) live.textContent = live.getAttribute("data-stopped") || "Not refreshing: reload the page.";
        clearInterval(timer);
      })
      .finally(function () {
        busy = false;
      });
  }

  var timer = setInterval(refresh, seconds * 1000);
})();

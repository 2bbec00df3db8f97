/* While a run is in progress: the Run button disabled, "Running…" and the seconds so far.
 *
 * The words come from the #run-status element's data-running attribute ("Running… {seconds} s"),
 * written in the template. Buttons marked data-download start a download, not a new page, so they
 * do not start the wait.
 */
(() => {
  "use strict";

  const form = document.getElementById("editor-form");
  const status = document.getElementById("run-status");
  if (!form || !status) return;
  const template = status.dataset.running || "Running… {seconds} s";
  let timer = null;

  function show(started) {
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    status.textContent = template.replace("{seconds}", seconds);
  }

  function stop() {
    if (timer !== null) clearInterval(timer);
    timer = null;
    status.textContent = "";
    form.classList.remove("running");
    for (const button of form.querySelectorAll("button[data-runs]")) button.disabled = false;
  }

  form.addEventListener("submit", (event) => {
    if (event.defaultPrevented) return;
    const submitter = event.submitter;
    if (submitter && (submitter.hasAttribute("data-download") || !submitter.hasAttribute("data-runs"))) return;
    if (form.classList.contains("running")) {
      event.preventDefault(); // one run at a time
      return;
    }
    const started = performance.now();
    form.classList.add("running");
    show(started);
    timer = setInterval(() => show(started), 100);
    // Disabled after this event, so that the form still sends the button's own name and value.
    setTimeout(() => {
      for (const button of form.querySelectorAll("button[data-runs]")) button.disabled = true;
    }, 0);
  });

  // Back to this page from the next one (the back/forward cache): ready again.
  window.addEventListener("pageshow", (event) => {
    if (event.persisted) stop();
  });
})();

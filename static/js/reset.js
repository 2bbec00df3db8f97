/* Reset asks first, naming the engine the selector shows at that moment; without JavaScript the
 * server asks on a page of its own instead. The Examples menu follows the engine selector too, so
 * that a lesson opens on the engine the student chose. Every page works without this script.
 */
(() => {
  "use strict";

  const form = document.getElementById("editor-form");
  const resetButton = document.getElementById("reset-button");
  const engine = document.getElementById("engine");
  if (!form) return;

  function engineLabel() {
    if (!engine) return "";
    if (engine instanceof HTMLSelectElement) return engine.selectedOptions[0]?.textContent?.trim() || engine.value;
    return engine.dataset.label || engine.value;
  }

  if (resetButton) {
    resetButton.addEventListener("click", (event) => {
      // The question in the page's language (data-question, written by the template); {engine} is filled in here.
      const template =
        resetButton.dataset.question ||
        "Reset your {engine} sandbox to the sample data?\n\n" +
          "Every table and row you committed there is replaced by the sample. Your SQL and grid stay in the editor.";
      const question = template.replace("{engine}", engineLabel());
      if (!window.confirm(question)) {
        event.preventDefault();
        return;
      }
      // Asked here, so the server need not ask again.
      let confirmed = form.querySelector('input[name="confirm"]');
      if (!confirmed) {
        confirmed = document.createElement("input");
        confirmed.type = "hidden";
        confirmed.name = "confirm";
        form.append(confirmed);
      }
      confirmed.value = "yes";
    });
  }

  if (engine instanceof HTMLSelectElement) {
    engine.addEventListener("change", () => {
      for (const link of document.querySelectorAll(".examples a[href]")) {
        const url = new URL(link.href, window.location.href);
        url.searchParams.set("engine", engine.value);
        link.href = url.pathname + url.search;
      }
    });
  }
})();

/* Copy buttons: a button with data-copy="ID" copies that field's value and says so (data-copied). */
(() => {
  "use strict";

  for (const button of document.querySelectorAll("button[data-copy]")) {
    const field = document.getElementById(button.dataset.copy);
    if (!field) continue;
    button.hidden = false;
    const label = button.textContent;
    button.addEventListener("click", async () => {
      field.select();
      try {
        await navigator.clipboard.writeText(field.value);
      } catch {
        document.execCommand("copy"); // without the clipboard API (plain http on a classroom server)
      }
      button.textContent = button.dataset.copied || label;
      setTimeout(() => {
        button.textContent = label;
      }, 2000);
    });
  }
  const link = document.getElementById("share-link");
  if (link) link.addEventListener("focus", () => link.select());
})();

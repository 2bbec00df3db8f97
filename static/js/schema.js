/* The schema panel: each table and column name becomes a button that inserts the name (quoted
 * where SQL needs it) at the editor's cursor. editor.js does the inserting when it is there;
 * otherwise the name goes into the plain textarea at its cursor.
 */
(() => {
  "use strict";

  const textarea = document.getElementById("sql");
  const panel = document.querySelector("aside.schema");
  if (!textarea || !panel) return;

  function insertIntoTextarea(text) {
    const start = textarea.selectionStart ?? textarea.value.length;
    const end = textarea.selectionEnd ?? start;
    textarea.setRangeText(text, start, end, "end");
    textarea.focus();
    textarea.dispatchEvent(new Event("input", { bubbles: true }));
  }

  for (const name of panel.querySelectorAll("code.name[data-insert]")) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "insert-name";
    button.dataset.insert = name.dataset.insert;
    button.title = (panel.dataset.insertTitle || "{name}").replace("{name}", name.dataset.insert);
    button.append(name.cloneNode(true));
    name.replaceWith(button);
  }

  panel.addEventListener("click", (event) => {
    const button = event.target instanceof Element ? event.target.closest("button.insert-name") : null;
    if (!button) return;
    event.preventDefault(); // a name inside <summary> inserts; it does not fold the table
    const text = button.dataset.insert;
    if (window.playgroundEditor) textarea.dispatchEvent(new CustomEvent("playground:insert", { detail: text }));
    else insertIntoTextarea(text);
  });
})();

/* The SQL editor: CodeMirror 6 over the plain textarea, which stays the editor without JavaScript.
 *
 * - SQL highlighting, line numbers, bracket matching; the dialect follows the engine selector.
 * - Completion of the visitor's own table and column names (GET /api/schema).
 * - Ctrl+Enter (Cmd+Enter on a Mac) runs; Tab indents; Escape then Tab leaves the editor.
 * - The textarea keeps the text (the form sends it) and hears an "input" event on every change,
 *   so grid.js keeps the parameter grid in step as before.
 * - Other scripts insert text at the cursor with a "playground:insert" event on the textarea
 *   (detail: the text); they read the cursor from its data-cursor attribute (a character offset).
 */
(() => {
  "use strict";

  const CM = window.PlaygroundCodeMirror;
  const textarea = document.getElementById("sql");
  if (!CM || !textarea) return;

  const form = textarea.form;
  const engineField = form ? form.elements.namedItem("engine") : null;
  const schemaUrl = textarea.dataset.schemaUrl;
  const label = document.querySelector('label[for="sql"]');
  const cspNonce = document.querySelector('meta[name="csp-nonce"]');

  function engine() {
    return engineField && "value" in engineField ? engineField.value : "";
  }

  function dialectOf(name) {
    return name === "postgresql" ? CM.PostgreSQL : CM.SQLite;
  }

  const language = new CM.Compartment();
  let schema = {};

  function languageFor(name) {
    return CM.sql({ dialect: dialectOf(name), schema, upperCaseKeywords: true });
  }

  function runFromKeyboard() {
    if (!form) return false;
    const run = document.getElementById("run-button");
    if (run && run.disabled) return true;
    if (typeof form.requestSubmit === "function") form.requestSubmit(run || undefined);
    else form.submit();
    return true;
  }

  // Offsets for the server are in characters (code points), as Python counts them.
  function codePointOffset(text, utf16Offset) {
    return Array.from(text.slice(0, utf16Offset)).length;
  }

  function mirror(update) {
    if (!update.docChanged && !update.selectionSet) return;
    const view = update.view;
    const text = view.state.doc.toString();
    textarea.dataset.cursor = String(codePointOffset(text, view.state.selection.main.head));
    if (!update.docChanged) return;
    textarea.value = text;
    textarea.dispatchEvent(new Event("input", { bubbles: true }));
  }

  const extensions = [
    CM.lineNumbers(),
    CM.highlightActiveLineGutter(),
    CM.highlightSpecialChars(),
    CM.history(),
    CM.drawSelection(),
    CM.indentOnInput(),
    CM.syntaxHighlighting(CM.defaultHighlightStyle, { fallback: true }),
    CM.bracketMatching(),
    CM.closeBrackets(),
    CM.autocompletion(),
    CM.highlightActiveLine(),
    CM.keymap.of([
      { key: "Mod-Enter", run: runFromKeyboard, preventDefault: true },
      ...CM.closeBracketsKeymap,
      ...CM.defaultKeymap,
      ...CM.historyKeymap,
      ...CM.completionKeymap,
      CM.indentWithTab,
    ]),
    language.of(languageFor(engine())),
    CM.EditorView.lineWrapping,
    CM.EditorView.contentAttributes.of({ "aria-label": label ? label.textContent.trim() : "SQL", "aria-multiline": "true" }),
    CM.EditorView.updateListener.of(mirror),
  ];
  if (textarea.placeholder) extensions.push(CM.placeholder(textarea.placeholder));
  if (cspNonce && cspNonce.content) extensions.push(CM.EditorView.cspNonce.of(cspNonce.content));

  const host = document.createElement("div");
  host.className = "code-editor";
  host.id = "sql-editor";
  textarea.insertAdjacentElement("afterend", host);
  const view = new CM.EditorView({
    parent: host,
    state: CM.EditorState.create({ doc: textarea.value, extensions }),
  });
  // The textarea stays in the form (it is what the form sends) but out of sight and out of the tab order.
  textarea.hidden = true;
  textarea.tabIndex = -1;
  textarea.dataset.cursor = String(codePointOffset(textarea.value, textarea.value.length));
  if (label) label.addEventListener("click", () => view.focus());
  // Explain plans the statement under the cursor.
  if (form) {
    form.addEventListener("submit", () => {
      const cursor = form.elements.namedItem("cursor");
      if (cursor) cursor.value = textarea.dataset.cursor || "";
    });
  }
  window.playgroundEditor = view;

  // Someone set the textarea's value (History, a test): the editor follows.
  textarea.addEventListener("playground:replace", () => {
    view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: textarea.value } });
  });

  textarea.addEventListener("playground:insert", (event) => {
    const text = String(event.detail || "");
    const { from, to } = view.state.selection.main;
    view.dispatch({ changes: { from, to, insert: text }, selection: { anchor: from + text.length }, scrollIntoView: true });
    view.focus();
  });

  async function loadSchema() {
    if (!schemaUrl) return;
    const asked = engine();
    let data;
    try {
      const response = await fetch(`${schemaUrl}?engine=${encodeURIComponent(asked)}`, { credentials: "same-origin" });
      if (!response.ok) return;
      data = await response.json();
    } catch {
      return; // completion of keywords still works
    }
    if (asked !== engine() || !data || !Array.isArray(data.tables)) return;
    schema = {};
    for (const table of data.tables) schema[table.name] = table.columns.map((c) => c.name);
    view.dispatch({ effects: language.reconfigure(languageFor(asked)) });
  }

  if (engineField && engineField.tagName === "SELECT") {
    engineField.addEventListener("change", () => {
      view.dispatch({ effects: language.reconfigure(languageFor(engine())) });
      loadSchema();
    });
  }
  loadSchema();
})();

/* Paste a block from a spreadsheet into the parameter grid.
 *
 * Pasting into a grid cell text that spans several cells (tab-separated, as spreadsheets copy,
 * or several lines of comma-separated values) fills the grid from that cell on, adding as many
 * rows as the block holds. A first line that names the grid's parameters (with or without the
 * colon) is a header: its columns go to the parameters of those names, in any order.
 * A single value without tabs or line breaks pastes as usual.
 *
 * Rows are added by pressing the grid's own "Add row" button, so grid.js stays the one that
 * draws the grid. Messages come from the fieldset's data-paste-* attributes (the template's words).
 */
(() => {
  "use strict";

  const fieldset = document.getElementById("param-grid");
  if (!fieldset) return;
  const message = document.getElementById("grid-message");
  const maxRows = Number.parseInt(fieldset.dataset.maxRows || "1000", 10);

  function parseBlock(text) {
    const trimmed = text.replace(/\r\n?/g, "\n").replace(/\n+$/, "");
    if (trimmed.includes("\t")) return trimmed.split("\n").map((line) => line.split("\t"));
    return parseCsv(trimmed);
  }

  // RFC 4180: fields in double quotes may hold commas, line breaks and doubled quotes.
  function parseCsv(text) {
    const rows = [];
    let row = [];
    let field = "";
    let quoted = false;
    for (let i = 0; i < text.length; i++) {
      const c = text[i];
      if (quoted) {
        if (c === '"' && text[i + 1] === '"') {
          field += '"';
          i++;
        } else if (c === '"') quoted = false;
        else field += c;
      } else if (c === '"' && field === "") quoted = true;
      else if (c === ",") {
        row.push(field);
        field = "";
      } else if (c === "\n") {
        row.push(field);
        rows.push(row);
        row = [];
        field = "";
      } else field += c;
    }
    row.push(field);
    rows.push(row);
    return rows;
  }

  function columns() {
    const names = [];
    for (let i = 0; ; i++) {
      const input = fieldset.querySelector(`input[name="col-${i}"]`);
      if (!input) return names;
      names.push(input.value);
    }
  }

  function rowCount() {
    const input = document.getElementById("grid-rows");
    return Math.max(Number.parseInt(input ? input.value : "1", 10) || 1, 1);
  }

  function say(template, values) {
    if (!message || !template) return;
    message.textContent = template.replace(/\{(\w+)\}/g, (_, key) => String(values[key] ?? ""));
  }

  fieldset.addEventListener("paste", (event) => {
    const cell = event.target;
    if (!(cell instanceof HTMLInputElement) || !/^cell-\d+-\d+$/.test(cell.id)) return;
    const text = event.clipboardData ? event.clipboardData.getData("text/plain") : "";
    if (!text || !/[\t\n\r]/.test(text.replace(/[\r\n]+$/, ""))) return; // one value: the browser pastes it
    event.preventDefault();

    const names = columns();
    let block = parseBlock(text);
    const [, startRow, startColumn] = cell.id.split("-").map(Number);
    // A header naming the grid's parameters places each column by name.
    const header = block[0].map((h) => h.trim().replace(/^:/, ""));
    let targets = header.map((_, i) => startColumn + i);
    if (header.length && header.every((h) => names.includes(h))) {
      targets = header.map((h) => names.indexOf(h));
      block = block.slice(1);
    }
    if (!block.length) return;

    const wanted = startRow + block.length;
    const fits = Math.min(wanted, maxRows);
    const addRow = () => document.getElementById("add-row-button");
    while (rowCount() < fits && addRow()) addRow().click();

    let filled = 0;
    block.forEach((cells, r) => {
      if (startRow + r >= fits) return;
      cells.forEach((value, i) => {
        const target = document.getElementById(`cell-${startRow + r}-${targets[i]}`);
        if (target && targets[i] < names.length) {
          target.value = value;
          target.dispatchEvent(new Event("input", { bubbles: true }));
        }
      });
      filled++;
    });
    const last = document.getElementById(`cell-${startRow + filled - 1}-${targets[0]}`);
    if (last) last.focus();
    if (wanted > fits) say(fieldset.dataset.pasteCut, { rows: filled, max: maxRows });
    else say(fieldset.dataset.pasteFilled, { rows: filled });
  });
})();

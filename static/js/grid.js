/* Progressive enhancement of the editor; every page works without it.
 *
 * - The parameter grid follows the SQL as you type: its columns are the SQL's :name parameters,
 *   exactly as the server reads them (POST /api/parameters, debounced), and values are kept by name
 *   (also for a column that goes away and comes back).
 * - Add row / Remove row work in the page, without a round trip.
 * - Commit and Discard are sent once, however often the button is clicked.
 * - Columns set aside (by the script or by the server) travel with the form in #grid-aside, so that
 *   their values come back with the parameter whichever side notices it first.
 *
 * Field names are the ones views.grid_from_form reads: col-I (name), type-I (type), rows (count),
 * cell-R-I (text of row R, column I). A cell's label is "NAME" in row 1 and "NAME (row N)" after.
 */
(() => {
  "use strict";

  const DEBOUNCE_MS = 250;

  const form = document.getElementById("editor-form");
  const fieldset = document.getElementById("param-grid");
  const sqlBox = document.getElementById("sql");
  const rowsInput = document.getElementById("grid-rows");
  const body = document.getElementById("grid-body");
  const message = document.getElementById("grid-message");
  const aside = document.getElementById("grid-aside");

  guardDecisionForms();
  if (!form || !fieldset || !sqlBox || !rowsInput || !body) return;

  // The no-JS controls (the "Update the grid from the SQL" button) are not needed any more.
  for (const element of document.querySelectorAll("[data-nojs]")) element.hidden = true;

  const parametersUrl = fieldset.dataset.parametersUrl;
  const columnTypes = JSON.parse(fieldset.dataset.columnTypes || '["auto"]');
  const maxRows = Number.parseInt(fieldset.dataset.maxRows || "1000", 10);
  // The grid's words in the page's language, from the template (data-words); {name} and {row} are filled in here.
  const words = Object.assign(
    {
      type_of: "Type of {name}",
      remove: "Remove",
      cell_in_row: "{name} (row {row})",
      remove_row: "Remove row {row}",
      add_row: "Add row",
      rows_hint_html: "",
      no_params_html: "",
      grid_full: "The grid already has as many rows as can run at once.",
    },
    JSON.parse(fieldset.dataset.words || "{}"),
  );
  const fill = (template, values) => template.replace(/\{(\w+)\}/g, (whole, key) => (key in values ? String(values[key]) : whole));
  const csrfMeta = document.querySelector('meta[name="csrf-token"]');
  const csrfToken = csrfMeta ? csrfMeta.content : "";

  // Values of columns the SQL no longer has, by name: they come back if the parameter does.
  const stash = readAside();

  // -- the grid as the form holds it ------------------------------------------------------------

  function field(name) {
    const element = form.elements.namedItem(name);
    return element instanceof Element ? element : null;
  }

  function readGrid() {
    const columns = [];
    const types = [];
    for (let i = 0; field(`col-${i}`); i++) {
      columns.push(field(`col-${i}`).value);
      const type = field(`type-${i}`);
      types.push(type ? type.value : "auto");
    }
    const count = Math.max(Number.parseInt(rowsInput.value, 10) || 1, 1);
    const rows = [];
    for (let r = 0; r < count; r++) {
      rows.push(columns.map((_, c) => {
        const cell = field(`cell-${r}-${c}`);
        return cell ? cell.value : "";
      }));
    }
    return { columns, types, rows };
  }

  function readAside() {
    const kept = new Map();
    if (!aside) return kept;
    const value = (name) => {
      const input = aside.querySelector(`input[name="${name}"]`);
      return input ? input.value : null;
    };
    const count = Number.parseInt(value("aside-rows") || "0", 10) || 0;
    for (let c = 0; value(`aside-col-${c}`) !== null; c++) {
      const values = [];
      for (let r = 0; r < count; r++) values.push(value(`aside-cell-${r}-${c}`) || "");
      kept.set(value(`aside-col-${c}`), { type: value(`aside-type-${c}`) || "auto", values });
    }
    return kept;
  }

  function writeAside() {
    if (!aside) return;
    const columns = readGrid().columns;
    const entries = [...stash.entries()].filter(([name]) => !columns.includes(name));
    const count = Math.max(0, ...entries.map(([, saved]) => saved.values.length));
    const hidden = (name, value) => element("input", { type: "hidden", name, value });
    aside.replaceChildren(hidden("aside-rows", String(count)));
    entries.forEach(([name, saved], c) => {
      aside.append(hidden(`aside-col-${c}`, name), hidden(`aside-type-${c}`, saved.type));
      saved.values.forEach((v, r) => aside.append(hidden(`aside-cell-${r}-${c}`, v ?? "")));
    });
  }

  function element(tag, attributes = {}, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes)) {
      if (value !== null && value !== undefined && value !== false) node.setAttribute(name, value === true ? "" : value);
    }
    for (const child of children) node.append(child);
    return node;
  }

  function render(grid, focusId) {
    const active = document.activeElement;
    const keepFocus = focusId || (active && body.contains(active) ? active.id : null);
    rowsInput.value = String(grid.rows.length);
    body.replaceChildren();
    if (grid.columns.length === 0) {
      const hint = element("p", { class: "hint", id: "no-params" });
      hint.innerHTML = words.no_params_html;
      body.append(hint);
      return;
    }
    const headRow = element("tr", {}, element("th", { scope: "col" }, "#"));
    grid.columns.forEach((name, c) => {
      const select = element("select", { name: `type-${c}`, "aria-label": fill(words.type_of, { name }) });
      for (const type of columnTypes) {
        select.append(element("option", { value: type, selected: type === grid.types[c] }, type));
      }
      headRow.append(
        element(
          "th",
          { scope: "col" },
          element("input", { type: "hidden", name: `col-${c}`, value: name }),
          element("span", { class: "param-name" }, `:${name}`),
          " ",
          select,
        ),
      );
    });
    headRow.append(element("th", { scope: "col" }, element("span", { class: "visually-hidden" }, words.remove)));
    const tbody = element("tbody");
    grid.rows.forEach((cells, r) => {
      const row = element("tr", {}, element("th", { scope: "row" }, String(r + 1)));
      grid.columns.forEach((name, c) => {
        const id = `cell-${r}-${c}`;
        row.append(
          element(
            "td",
            {},
            element("label", { class: "visually-hidden", for: id }, r > 0 ? fill(words.cell_in_row, { name, row: r + 1 }) : name),
            element("input", {
              type: "text",
              id,
              name: id,
              value: cells[c] ?? "",
              autocomplete: "off",
              spellcheck: "false",
            }),
          ),
        );
      });
      const remove =
        grid.rows.length > 1
          ? element(
              "button",
              {
                type: "submit",
                name: "action",
                value: `remove_row:${r}`,
                class: "link",
                formnovalidate: true,
                "aria-label": fill(words.remove_row, { row: r + 1 }),
              },
              "✕",
            )
          : "";
      row.append(element("td", {}, remove));
      tbody.append(row);
    });
    const hint = element(
      "p",
      { class: "hint" },
      element(
        "button",
        { type: "submit", name: "action", value: "add_row", class: "secondary", id: "add-row-button" },
        words.add_row,
      ),
    );
    hint.insertAdjacentHTML("beforeend", ` ${words.rows_hint_html}`);
    body.append(
      element("div", { class: "grid-scroll" }, element("table", { class: "params" }, element("thead", {}, headRow), tbody)),
      hint,
    );
    if (keepFocus) {
      const target = document.getElementById(keepFocus);
      if (target) target.focus();
    }
  }

  function say(text) {
    if (message) message.textContent = text || "";
  }

  // -- columns follow the SQL -------------------------------------------------------------------

  function applyColumns(names) {
    const grid = readGrid();
    if (names.length === grid.columns.length && names.every((n, i) => n === grid.columns[i])) return;
    grid.columns.forEach((name, c) => {
      if (!names.includes(name)) stash.set(name, { type: grid.types[c], values: grid.rows.map((cells) => cells[c]) });
    });
    const kept = (name) => grid.columns.indexOf(name);
    const types = names.map((name) => {
      const c = kept(name);
      if (c >= 0) return grid.types[c];
      return stash.has(name) ? stash.get(name).type : "auto";
    });
    const rows = grid.rows.map((cells, r) =>
      names.map((name) => {
        const c = kept(name);
        if (c >= 0) return cells[c];
        const saved = stash.get(name);
        return saved && r < saved.values.length ? saved.values[r] : "";
      }),
    );
    render({ columns: names, types, rows });
  }

  function engine() {
    const select = field("engine");
    return select ? select.value : "";
  }

  let timer = null;
  let sequence = 0;
  let lastAsked = `${engine()}\u0000${sqlBox.defaultValue}`;

  async function syncColumns() {
    timer = null;
    const sql = sqlBox.value;
    const asked = `${engine()}\u0000${sql}`;
    if (asked === lastAsked) return;
    lastAsked = asked;
    const mine = ++sequence;
    if (!sql.trim()) {
      say("");
      applyColumns([]);
      return;
    }
    let response;
    let data;
    try {
      response = await fetch(parametersUrl, {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken },
        body: JSON.stringify({ sql, engine: engine() || null }),
      });
      data = await response.json();
    } catch {
      // Offline or a page-less answer: the server makes the grid follow the SQL when you press Run.
      if (mine === sequence) lastAsked = null;
      return;
    }
    if (mine !== sequence) return; // a later keystroke has asked again
    if (response.ok && Array.isArray(data.parameters)) {
      say("");
      applyColumns(data.parameters);
    } else {
      // The grid stays as it is; the message says why the SQL's parameters cannot be read.
      say(data && data.error && data.error.message ? data.error.message : "");
    }
  }

  function scheduleSync() {
    if (timer !== null) clearTimeout(timer);
    timer = setTimeout(syncColumns, DEBOUNCE_MS);
  }

  sqlBox.addEventListener("input", scheduleSync);
  const engineSelect = field("engine");
  if (engineSelect && engineSelect.tagName === "SELECT") engineSelect.addEventListener("change", scheduleSync);
  // The browser may restore the textarea (Back, reload) with SQL the grid was not made for.
  if (sqlBox.value !== sqlBox.defaultValue) scheduleSync();
  window.addEventListener("pageshow", (event) => {
    if (!event.persisted) return;
    // Back to a preview from the browser's memory: ask the server whether it was committed since
    // (a GET never runs anything, so reloading is safe).
    if (document.querySelector(".decide form")) window.location.reload();
    else scheduleSync();
  });
  form.addEventListener("submit", writeAside);

  // -- Add row / Remove row ---------------------------------------------------------------------

  fieldset.addEventListener("click", (event) => {
    const button = event.target instanceof Element ? event.target.closest('button[name="action"]') : null;
    if (!button || !fieldset.contains(button)) return;
    const action = button.value;
    const grid = readGrid();
    if (action === "add_row") {
      event.preventDefault();
      if (grid.rows.length >= maxRows) {
        say(words.grid_full);
        return;
      }
      say("");
      grid.rows.push(grid.columns.map(() => ""));
      render(grid, grid.columns.length ? `cell-${grid.rows.length - 1}-0` : null);
    } else if (action.startsWith("remove_row:")) {
      event.preventDefault();
      const index = Number.parseInt(action.slice("remove_row:".length), 10);
      if (!(index >= 0 && index < grid.rows.length && grid.rows.length > 1)) return;
      say("");
      grid.rows.splice(index, 1);
      const next = Math.min(index, grid.rows.length - 1);
      render(grid, grid.columns.length ? `cell-${next}-0` : null);
    }
  });

  // -- Commit / Discard once --------------------------------------------------------------------

  function guardDecisionForms() {
    for (const decision of document.querySelectorAll(".decide form")) {
      decision.addEventListener("submit", (event) => {
        if (decision.dataset.sent) {
          event.preventDefault();
          return;
        }
        // Both buttons: a preview is either committed or discarded, once.
        for (const other of document.querySelectorAll(".decide form")) other.dataset.sent = "1";
        // Disabled after this event, so that the form still sends what it holds.
        setTimeout(() => {
          for (const button of document.querySelectorAll(".decide button")) button.disabled = true;
        }, 0);
      });
    }
  }
})();

// What the playground's editor (static/js/editor.js) uses from CodeMirror 6, as one global: `PlaygroundCodeMirror`.
// Only what is named here ends up in static/vendor/codemirror.js.
export { EditorState, Compartment } from "@codemirror/state";
export {
  EditorView,
  keymap,
  lineNumbers,
  highlightActiveLine,
  highlightActiveLineGutter,
  highlightSpecialChars,
  drawSelection,
  placeholder,
} from "@codemirror/view";
export { defaultKeymap, history, historyKeymap, indentWithTab } from "@codemirror/commands";
export { bracketMatching, indentOnInput, syntaxHighlighting, defaultHighlightStyle } from "@codemirror/language";
export { autocompletion, closeBrackets, closeBracketsKeymap, completionKeymap } from "@codemirror/autocomplete";
export { sql, SQLite, PostgreSQL, StandardSQL } from "@codemirror/lang-sql";

// The stream editor: CodeMirror 6 over the template textareas of the mail stream admin.
//
// It enhances, never replaces: the <textarea> stays in the form (hidden) and receives every
// change at once, with an "input" event, so the live preview, the unsaved-edits guard and a
// plain form submit all keep reading the textarea. Without JavaScript the textarea is the editor.
//
// Built with esbuild into static/streams/editor/editor.js (see frontend/editor/README.md);
// loaded as a static file because the Content-Security-Policy forbids inline scripts.
import {autocompletion, closeBrackets, completionKeymap} from "@codemirror/autocomplete";
import {defaultKeymap, history, historyKeymap} from "@codemirror/commands";
import {html} from "@codemirror/lang-html";
import {bracketMatching, defaultHighlightStyle, syntaxHighlighting} from "@codemirror/language";
import {linter} from "@codemirror/lint";
import {EditorState, StateEffect} from "@codemirror/state";
import {
  Decoration,
  EditorView,
  MatchDecorator,
  ViewPlugin,
  drawSelection,
  highlightActiveLine,
  keymap,
  lineNumbers,
} from "@codemirror/view";

const hints = readHints();
const editors = [];
let lastFocused = null;

function readHints() {
  const node = document.getElementById("te-editor-hints");
  const empty = {event_keys: [], contact_fields: [], tags: [], filters: []};
  if (!node) { return empty; }
  try {
    return Object.assign(empty, JSON.parse(node.textContent));
  } catch (error) {
    return empty;
  }
}

// --- ESL on top of HTML: {{ output }}, {% tags %} and {# comments #} get their own marks ---

const eslMarks = {
  "{{": Decoration.mark({class: "cm-esl cm-esl-output"}),
  "{%": Decoration.mark({class: "cm-esl cm-esl-tag"}),
  "{#": Decoration.mark({class: "cm-esl cm-esl-comment"}),
};
const eslDecorator = new MatchDecorator({
  regexp: /\{\{[\s\S]*?\}\}|\{%[\s\S]*?%\}|\{#[\s\S]*?#\}/g,
  decoration: (match) => eslMarks[match[0].slice(0, 2)],
});
const eslHighlight = ViewPlugin.fromClass(
  class {
    constructor(view) { this.decorations = eslDecorator.createDeco(view); }
    update(update) { this.decorations = eslDecorator.updateDeco(update, this.decorations); }
  },
  {decorations: (plugin) => plugin.decorations},
);
const eslTheme = EditorView.baseTheme({
  ".cm-esl": {borderRadius: "2px"},
  "&light .cm-esl-output": {color: "#0f5d8f", backgroundColor: "#e0f2fe"},
  "&light .cm-esl-tag": {color: "#7c2d92", backgroundColor: "#f3e8ff"},
  "&light .cm-esl-comment": {color: "#6b7280", fontStyle: "italic"},
  "&dark .cm-esl-output": {color: "#7dd3fc", backgroundColor: "#0c2a3d"},
  "&dark .cm-esl-tag": {color: "#e9b5ff", backgroundColor: "#2e1538"},
  "&dark .cm-esl-comment": {color: "#9ca3af", fontStyle: "italic"},
});

// --- completion: event keys, contact fields (by name and Emarsys id), tags, filters ---

// The template code the cursor is in, if any: the text since the last unclosed {{ or {%.
function openTemplateCode(state, pos) {
  const before = state.sliceDoc(Math.max(0, pos - 2000), pos);
  const open = Math.max(before.lastIndexOf("{{"), before.lastIndexOf("{%"));
  if (open < 0) { return null; }
  const close = Math.max(before.lastIndexOf("}}"), before.lastIndexOf("%}"));
  if (close > open) { return null; }
  return {kind: before.slice(open, open + 2), code: before.slice(open + 2)};
}

function eventOptions() {
  return hints.event_keys.map((key) => ({label: `event.${key}`, type: "property", detail: "sample data"}));
}

function contactOptions() {
  const options = [];
  for (const field of hints.contact_fields) {
    options.push({label: `contact.${field.name}`, type: "property", detail: field.id ? `id ${field.id}` : field.label});
    if (field.id) {
      options.push({label: `contact.${field.id}`, type: "property", detail: field.name});
    }
  }
  return options;
}

function templateCompletions(context) {
  const inside = openTemplateCode(context.state, context.pos);
  if (!inside) { return null; }
  const filter = context.matchBefore(/\|\s*\w*$/);
  if (filter) {
    const start = filter.from + filter.text.search(/\w|$/);
    return {
      from: start,
      options: hints.filters.map((name) => ({label: name, type: "function", detail: "filter"})),
      validFor: /^\w*$/,
    };
  }
  const tag = inside.kind === "{%" && /^\s*\w*$/.test(inside.code) ? context.matchBefore(/\w*$/) : null;
  if (tag) {
    return {
      from: tag.from,
      options: hints.tags.map((t) => ({label: t.name, type: "keyword", detail: t.detail})),
      validFor: /^\w*$/,
    };
  }
  const word = context.matchBefore(/[\w.]+$/);
  if (!word && !context.explicit) { return null; }
  const from = word ? word.from : context.pos;
  const text = word ? word.text : "";
  let options;
  if (text.startsWith("event.")) {
    options = eventOptions();
  } else if (text.startsWith("contact.")) {
    options = contactOptions();
  } else {
    options = ["event", "contact", "global", "stream", "message"].map(
      (name) => ({label: name, type: "variable", apply: `${name}.`}),
    );
    options.push(...eventOptions(), ...contactOptions());
  }
  return {from, options, validFor: /^[\w.]*$/};
}

// --- warnings: event keys the template reads that the sample data lacks ---

const missingByView = new Map();
// Dispatched when the sample data changes: the warnings are checked again.
const hintsChanged = StateEffect.define();
const eventReference = /\b(event|global)\.([A-Za-z_]\w*)/g;

function missingKeyLinter(view) {
  const known = new Set(hints.event_keys.map((key) => key.split(".")[0]));
  const diagnostics = [];
  const doc = view.state.doc.toString();
  const code = /\{\{[\s\S]*?\}\}|\{%[\s\S]*?%\}/g;
  let block;
  while ((block = code.exec(doc)) !== null) {
    eventReference.lastIndex = 0;
    let ref;
    while ((ref = eventReference.exec(block[0])) !== null) {
      if (known.has(ref[2])) { continue; }
      const from = block.index + ref.index;
      diagnostics.push({
        from,
        to: from + ref[0].length,
        severity: "warning",
        message: `${ref[0]} is not in the sample data, so it prints empty in the preview. Add it to the sample data if triggers send it; check the spelling if they do.`,
      });
    }
  }
  missingByView.set(view, diagnostics.map((d) => view.state.sliceDoc(d.from, d.to)));
  const panel = document.getElementById("te-editor-missing");
  if (panel) {
    const names = [...new Set([...missingByView.values()].flat())];
    panel.hidden = !names.length;
    panel.querySelector("span").textContent = names.join(", ");
  }
  return diagnostics;
}

// --- the editors ---

function enhance(textarea) {
  const mode = textarea.dataset.editor;
  const extensions = [
    lineNumbers(),
    history(),
    drawSelection(),
    highlightActiveLine(),
    bracketMatching(),
    closeBrackets(),
    syntaxHighlighting(defaultHighlightStyle, {fallback: true}),
    eslHighlight,
    eslTheme,
    EditorView.lineWrapping,
    // No Tab binding: Tab keeps moving the focus out of the editor, as in a textarea.
    keymap.of([...completionKeymap, ...defaultKeymap, ...historyKeymap]),
    autocompletion({override: [templateCompletions], icons: false}),
    linter(missingKeyLinter, {
      delay: 400,
      needsRefresh: (update) => update.transactions.some(
        (tr) => tr.effects.some((effect) => effect.is(hintsChanged)),
      ),
    }),
    EditorView.contentAttributes.of(contentAttributes(textarea)),
    EditorView.updateListener.of((update) => {
      if (update.focusChanged && update.view.hasFocus) { lastFocused = entry; }
      if (!update.docChanged) { return; }
      textarea.value = update.state.doc.toString();
      textarea.dispatchEvent(new Event("input", {bubbles: true}));
    }),
  ];
  if (mode === "html") { extensions.push(html()); }
  const host = document.createElement("div");
  host.className = "te-codemirror";
  host.dataset.editorFor = textarea.name;
  textarea.insertAdjacentElement("afterend", host);
  const view = new EditorView({
    state: EditorState.create({doc: textarea.value, extensions}),
    parent: host,
  });
  // For scripts that drive the page (the browser tests): the host element knows its editor.
  host.teEditorView = view;
  textarea.hidden = true;
  textarea.classList.add("te-enhanced");
  // The label still points at the textarea: let it focus the editor.
  const label = document.querySelector(`label[for="${textarea.id}"]`);
  if (label) { label.addEventListener("click", () => view.focus()); }
  const entry = {textarea, view};
  editors.push(entry);
  return entry;
}

function contentAttributes(textarea) {
  const attributes = {"aria-label": textarea.getAttribute("aria-label") || labelOf(textarea)};
  const help = document.getElementById(`${textarea.id}_helptext`);
  if (help) { attributes["aria-describedby"] = help.id; }
  return attributes;
}

function labelOf(textarea) {
  const label = document.querySelector(`label[for="${textarea.id}"]`);
  return label ? label.textContent.replace(/:$/, "").trim() : textarea.name;
}

// The sample data decides which event keys complete and warn: follow it as it is edited.
function followSampleData() {
  const sample = document.querySelector("textarea[name=sample_data]");
  if (!sample) { return; }
  sample.addEventListener("input", () => {
    let data;
    try {
      data = JSON.parse(sample.value || "{}");
    } catch (error) {
      return;  // the preview says what is wrong with it
    }
    hints.event_keys = keyPaths(data, "", 1);
    if (data && typeof data.global === "object" && data.global !== null) {
      for (const key of keyPaths(data.global, "", 1)) {
        if (!hints.event_keys.includes(key)) { hints.event_keys.push(key); }
      }
    }
    refreshMenu();
    for (const {view} of editors) { view.dispatch({effects: hintsChanged.of(null)}); }
  });
}

function keyPaths(data, prefix, depth) {
  if (!data || typeof data !== "object" || Array.isArray(data)) { return []; }
  const paths = [];
  for (const [key, value] of Object.entries(data)) {
    paths.push(prefix + key);
    if (value && typeof value === "object" && !Array.isArray(value) && depth < 4) {
      paths.push(...keyPaths(value, `${prefix}${key}.`, depth + 1));
    }
  }
  return paths.slice(0, 300);
}

// --- the personalisation menu: insert a field with a fallback ---

let menuSelect = null;

function buildMenu(anchor) {
  const menu = document.createElement("div");
  menu.className = "te-personalise";
  menu.id = "te-personalise";
  menu.setAttribute("role", "group");
  menu.setAttribute("aria-label", "Personalisation");
  const select = document.createElement("select");
  select.id = "te-personalise-field";
  const selectLabel = document.createElement("label");
  selectLabel.htmlFor = select.id;
  selectLabel.textContent = "Personalisation";
  const fallback = document.createElement("input");
  fallback.type = "text";
  fallback.id = "te-personalise-fallback";
  fallback.value = "there";
  fallback.size = 10;
  const fallbackLabel = document.createElement("label");
  fallbackLabel.htmlFor = fallback.id;
  fallbackLabel.textContent = "if empty";
  const button = document.createElement("button");
  button.type = "button";
  button.id = "te-personalise-insert";
  button.className = "button";
  button.textContent = "Insert";
  button.addEventListener("click", () => {
    const target = lastFocused || editors[0];
    if (!target || !select.value) { return; }
    const text = fallback.value
      ? `{{ ${select.value}|default(${JSON.stringify(fallback.value)}) }}`
      : `{{ ${select.value} }}`;
    const {view} = target;
    const range = view.state.selection.main;
    view.dispatch({
      changes: {from: range.from, to: range.to, insert: text},
      selection: {anchor: range.from + text.length},
      scrollIntoView: true,
    });
    view.focus();
  });
  menu.append(selectLabel, select, fallbackLabel, fallback, button);
  anchor.insertAdjacentElement("beforebegin", menu);
  menuSelect = select;
  refreshMenu();
}

function refreshMenu() {
  if (!menuSelect) { return; }
  const chosen = menuSelect.value;
  menuSelect.replaceChildren();
  const groups = [
    ["Contact fields", hints.contact_fields.flatMap((field) => {
      const byName = [`contact.${field.name}`, `${field.label} (contact.${field.name})`];
      return field.id ? [byName, [`contact.${field.id}`, `${field.label} by Emarsys id ${field.id}`]] : [byName];
    })],
    ["Event data (sample)", hints.event_keys.map((key) => [`event.${key}`, `event.${key}`])],
  ];
  for (const [title, entries] of groups) {
    if (!entries.length) { continue; }
    const group = document.createElement("optgroup");
    group.label = title;
    for (const [value, text] of entries) {
      const option = document.createElement("option");
      option.value = value;
      option.textContent = text;
      group.append(option);
    }
    menuSelect.append(group);
  }
  if (chosen) { menuSelect.value = chosen; }
  if (!menuSelect.value && menuSelect.options.length) { menuSelect.selectedIndex = 0; }
}

function start() {
  const textareas = document.querySelectorAll("textarea[data-editor]");
  if (!textareas.length) { return; }
  for (const textarea of textareas) { enhance(textarea); }
  buildMenu(editors[0].textarea.closest(".form-row") || editors[0].textarea);
  followSampleData();
  document.documentElement.dataset.editorReady = "true";
}

start();

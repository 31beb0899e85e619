// The "New task" form, built from FIELDS: one entry per field of the POST /tasks body. When the API
// takes a new field (attachments), add an entry here: its control, and `value`, which turns the
// control into the body's value (undefined leaves the field out; it may return a Promise, e.g. to
// read an attachment's bytes); `group` puts it in a folded section of that name. Nothing else
// changes. See docs/console.md.

import { call } from "./api.js";

export const FIELDS = [
  { name: "prompt", label: "Prompt", control: "textarea", attrs: { rows: 5, required: "" },
    value: (c) => c.value },
  { name: "model_name", label: "Model", control: "input",
    attrs: { placeholder: "the app's default", autocomplete: "off", spellcheck: "false" },
    value: (c) => c.value.trim() || undefined },
  { name: "use_aoai", label: "Provider", control: "select",
    options: [["true", "Azure OpenAI"], ["false", "OpenAI or compatible"]],
    value: (c) => c.value === "true" },
  { name: "review", label: "Review the plan before the team runs", control: "checkbox",
    value: (c) => (c.checked ? "plan" : undefined) },
  { name: "callback_url", label: "Callback URL (optional)", control: "input",
    attrs: { type: "url", placeholder: "https://…", autocomplete: "off" },
    value: (c) => c.value.trim() || undefined },
  { name: "agents", group: "Team options", label: "Agents (none chosen: every agent the app has)",
    control: "select", options: [["web", "WebSurfer"], ["files", "FileSurfer"], ["code", "Coder"]],
    attrs: { multiple: "", size: 3 },
    value: (c) => {
      const chosen = Array.from(c.selectedOptions, (option) => option.value);
      return chosen.length ? chosen : undefined;
    } },
  { name: "max_turns", group: "Team options", label: "Max turns (optional)", control: "input",
    attrs: { type: "number", min: "1", step: "1", inputmode: "numeric" }, value: number },
  { name: "max_tokens", group: "Team options", label: "Token budget (optional)", control: "input",
    attrs: { type: "number", min: "1", step: "1", inputmode: "numeric" }, value: number },
  { name: "deadline_seconds", group: "Team options", label: "Deadline in seconds (optional)", control: "input",
    attrs: { type: "number", min: "1", step: "any", inputmode: "decimal" }, value: number },
  // Attachments come here once the API takes them.
];

// A number field's value, or undefined (left out of the body) when it is empty.
function number(c) {
  return c.value.trim() === "" ? undefined : Number(c.value);
}

function control(field) {
  const node = document.createElement(field.control === "checkbox" ? "input" : field.control);
  if (field.control === "checkbox") node.type = "checkbox";
  // Attributes first: a select becomes `multiple` before its options arrive, or it selects the first.
  for (const [name, value] of Object.entries(field.attrs || {})) node.setAttribute(name, value);
  for (const [value, text] of field.options || []) node.append(new Option(text, value));
  node.id = `field-${field.name}`;
  node.name = field.name;
  return node;
}

function randomKey() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * Build the form into `form`; `onCreated(task)` after a 202, `onError(error)` on a failure.
 * A retried submission of the same body reuses its Idempotency-Key, so it never starts a second task.
 */
export function taskForm(form, { onCreated, onError }) {
  const controls = new Map();
  const groups = new Map(); // group name -> its folded <details>
  for (const field of FIELDS) {
    const node = control(field);
    const label = document.createElement("label");
    label.htmlFor = node.id;
    label.textContent = field.label;
    const row = document.createElement("div");
    row.className = `field field-${field.control}`;
    row.append(...(field.control === "checkbox" ? [node, label] : [label, node]));
    if (field.group && !groups.has(field.group)) {
      const details = document.createElement("details");
      details.className = "field-group";
      const summary = document.createElement("summary");
      summary.textContent = field.group;
      details.append(summary);
      form.append(details);
      groups.set(field.group, details);
    }
    (field.group ? groups.get(field.group) : form).append(row);
    controls.set(field.name, node);
  }
  const start = document.createElement("button");
  start.type = "submit";
  start.textContent = "Start task";
  form.append(start);

  let pending = null; // {json, key} of a submission not known to have been accepted
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = {};
    for (const field of FIELDS) {
      const value = await field.value(controls.get(field.name));
      if (value !== undefined) body[field.name] = value;
    }
    const json = JSON.stringify(body);
    if (pending?.json !== json) pending = { json, key: randomKey() };
    start.disabled = true;
    try {
      const { data } = await call("POST", "tasks", { body, headers: { "Idempotency-Key": pending.key } });
      pending = null;
      controls.get("prompt").value = "";
      onCreated(data);
    } catch (error) {
      onError(error);
    } finally {
      start.disabled = false;
    }
  });
}

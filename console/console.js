// The console: the function key, the "New task" form, "My tasks" (filter, paging, refresh) and one
// task at a time (#/tasks/<id>). It shows only what the API answers this caller; text from the API
// is only ever set as text (the page's Content-Security-Policy also refuses HTML sinks).

import { call, functionKey } from "./api.js";
import { taskForm } from "./form.js";
import { TaskView, badge, time } from "./task.js";

const $ = (id) => document.getElementById(id);
const PAGE_SIZE = 20;
const TASK_ROUTE = /^#\/tasks\/([A-Za-z0-9][A-Za-z0-9_-]{0,63})$/;
const state = { cursor: null, loads: 0, view: null, items: new Map() };

function notify(text) {
  $("problem").hidden = true;
  $("notice").textContent = text;
  $("notice").hidden = !text;
}

function problem(error) {
  $("notice").hidden = true;
  $("problem").textContent = error.message;
  $("problem").hidden = false;
  if (error.status === 401) askForKey();
}

function askForKey() {
  $("access").open = true;
  $("key").focus();
}

function showKeyState() {
  $("key-state").textContent = functionKey.get() ? "Function key: set" : "Function key";
  $("forget-key").hidden = !functionKey.get();
}

function taskItem(task) {
  const link = document.createElement("a");
  link.href = `#/tasks/${task.task_id}`;
  const id = document.createElement("code");
  id.textContent = task.task_id;
  const model = document.createElement("span");
  model.className = "model";
  model.textContent = task.model_name;
  link.append(id, " ", badge(task.status), " ", model, " ", time(task.created_at));
  const item = document.createElement("li");
  item.dataset.taskId = task.task_id;
  item.append(link);
  state.items.set(task.task_id, item);
  return item;
}

function markCurrent() {
  const current = location.hash.match(TASK_ROUTE)?.[1];
  for (const [id, item] of state.items) {
    if (id === current) item.firstChild.setAttribute("aria-current", "page");
    else item.firstChild.removeAttribute("aria-current");
  }
}

/** GET /tasks: the first page (or, with `more`, the next one) of the caller's tasks. */
async function loadTasks({ more = false } = {}) {
  const load = ++state.loads;
  const status = $("status-filter").value;
  $("list-state").textContent = "Loading tasks…";
  try {
    const query = { status, limit: PAGE_SIZE, cursor: more ? state.cursor : undefined };
    const { data } = await call("GET", "tasks", { query });
    if (load !== state.loads) return; // a newer load (another filter) answers instead
    if (!more) {
      $("tasks").replaceChildren();
      state.items.clear();
    }
    $("tasks").append(...data.tasks.map(taskItem));
    state.cursor = data.next_cursor;
    $("more").hidden = !data.next_cursor;
    const none = status ? `No ${status.replace("_", " ")} tasks.` : "No tasks yet.";
    $("list-state").textContent = state.items.size ? "" : none;
    $("tasks").dataset.state = "shown";
    markCurrent();
    if (!performance.getEntriesByName("tasks-shown").length) performance.mark("tasks-shown");
  } catch (error) {
    if (load !== state.loads) return;
    $("list-state").textContent = "The tasks could not be loaded.";
    problem(error);
  }
}

const app = {
  notify,
  failed: (error) => error.status === 401 && askForKey(),
  changed(id, status) {
    const old = state.items.get(id)?.querySelector(".badge");
    if (old) old.replaceWith(badge(status));
  },
  deleted(id) {
    state.items.get(id)?.remove();
    state.items.delete(id);
    notify(`Task ${id} deleted.`);
    location.hash = "#/";
  },
};

function route() {
  state.view?.close();
  state.view = null;
  const id = location.hash.match(TASK_ROUTE)?.[1];
  $("task").hidden = !id;
  document.body.classList.toggle("viewing", Boolean(id));
  if (id) {
    state.view = new TaskView($("task"), id, app);
    state.view.open();
  }
  markCurrent();
}

$("key-form").addEventListener("submit", (event) => {
  event.preventDefault();
  functionKey.set($("key").value.trim());
  $("key").value = "";
  $("access").open = false;
  showKeyState();
  notify(functionKey.get() ? "Function key set for this browser session." : "");
  loadTasks();
  route();
});
$("forget-key").addEventListener("click", () => {
  functionKey.set("");
  showKeyState();
  notify("Function key forgotten.");
});
$("status-filter").addEventListener("change", () => loadTasks());
$("refresh").addEventListener("click", () => loadTasks());
$("more").addEventListener("click", () => loadTasks({ more: true }));
window.addEventListener("hashchange", route);

taskForm($("new-task"), {
  onCreated(task) {
    notify(`Task ${task.task_id} started.`);
    loadTasks();
    location.hash = `#/tasks/${task.task_id}`;
  },
  onError: problem,
});
showKeyState();
loadTasks();
route();

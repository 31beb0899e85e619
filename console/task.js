// One task: status and progress (GET /tasks/{id}), the plan to review while it waits (POST
// /tasks/{id}/input), cancel and delete, the live transcript, the result with its tokens and time,
// and its files (files.js).

import { call, taskPath } from "./api.js";
import { el } from "./dom.js";
import { FilesView } from "./files.js";
import { markdown } from "./markdown.js";
import { follow } from "./transcript.js";

const FINAL = new Set(["completed", "failed", "cancelled"]);
const CANCELLABLE = new Set(["pending", "running", "awaiting_input"]);
const number = (n) => Number(n).toLocaleString("en");

function button(text, onClick, attrs = {}) {
  const node = el("button", { type: "button", ...attrs }, text);
  node.addEventListener("click", onClick);
  return node;
}

export function time(iso) {
  const node = el("time", { datetime: iso }, new Date(iso).toLocaleString());
  node.title = iso;
  return node;
}

export function badge(status) {
  return el("span", { class: `badge status-${status}` }, status.replace("_", " "));
}

function facts(pairs) {
  const list = el("dl", { class: "facts" });
  for (const [term, value] of pairs) if (value !== null && value !== undefined) list.append(el("dt", {}, term), el("dd", {}, value));
  return list;
}

export class TaskView {
  /** `root`: the section to draw in; `app`: {notify(text), failed(error), changed(id, status), deleted(id)}. */
  constructor(root, id, app) {
    this.root = root;
    this.id = id;
    this.app = app;
    this.status = null;
    this.stop = new AbortController();
    this.refreshing = null;
    this.draw();
  }

  draw() {
    const $ = (name, tag = "div", attrs = {}) => (this[name] = el(tag, attrs));
    const heading = el("h2", { tabindex: "-1" }, "Task ", el("code", {}, this.id));
    this.root.replaceChildren(
      el("p", { class: "back" }, el("a", { href: "#/" }, "← All tasks")),
      heading,
      $("summary", "p", { class: "summary" }),
      $("progress", "p", { class: "progress", role: "status" }),
      $("actions", "div", { class: "actions" }),
      $("error", "p", { class: "error", role: "alert", hidden: "" }),
      $("review", "section", { class: "review", hidden: "", "aria-label": "Plan review" }),
      el("section", { class: "prompt", "aria-label": "Prompt" }, el("h3", {}, "Prompt"), $("prompt")),
      $("result", "section", { class: "result", hidden: "", "aria-label": "Result" }),
      $("files", "section", { class: "files", hidden: "", "aria-label": "Files" }),
      el("section", { class: "transcript", "aria-label": "Transcript" },
        el("h3", {}, "Transcript"), $("connection", "p", { class: "connection", role: "status" }, "Connecting…"),
        $("messages", "ol", { class: "messages" })),
    );
    this.cancelButton = button("Cancel", () => this.act("POST", "/cancel"));
    this.deleteButton = button("Delete", () => this.confirmDelete());
    this.confirm = el("span", { class: "confirm", hidden: "" }, "Delete this task, its transcript and its files for good? ",
      button("Confirm delete", () => this.remove()), button("Keep it", () => this.showConfirm(false)));
    this.actions.append(this.cancelButton, this.deleteButton, this.confirm);
    this.fileList = new FilesView(this.files, this.id, this.stop.signal);
    heading.focus();
  }

  open() {
    this.refresh();
    follow(this.id, this.messages, {
      signal: this.stop.signal,
      onPage: (page) => { if (page.messages.length || page.status !== this.status || page.finished) this.refresh(); },
      onConnection: (state, error) => this.connectionIs(state, error),
    });
  }

  close() {
    this.stop.abort();
  }

  connectionIs(state, error) {
    const text = { live: "Live: new messages appear as they come.", finished: "The transcript is complete." };
    if (state === "live" && FINAL.has(this.status)) text.live = "The task has ended; its last messages may still come.";
    this.connection.dataset.state = state;
    this.connection.textContent = text[state] || `${error.message}${state === "retrying" ? " Retrying…" : ""}`;
  }

  /** GET /tasks/{id} (one at a time; a call while one runs asks for one more after it). */
  async refresh() {
    if (this.refreshing) return void (this.again = true);
    this.refreshing = call("GET", taskPath(this.id), { signal: this.stop.signal });
    try {
      const { data } = await this.refreshing;
      this.show(data);
      if (FINAL.has(data.status)) await this.showResult();
    } catch (error) {
      if (!this.stop.signal.aborted) this.fail(error);
    } finally {
      this.refreshing = null;
      if (this.again && !this.stop.signal.aborted) {
        this.again = false;
        this.refresh();
      }
    }
  }

  show(task) {
    const changed = task.status !== this.status;
    this.status = task.status;
    this.root.dataset.status = task.status;
    this.summary.replaceChildren(badge(task.status), " created ", time(task.created_at), " · updated ", time(task.updated_at));
    const p = task.progress;
    this.progress.textContent = p
      ? `Round ${number(p.rounds)} · last speaker ${p.last_speaker ?? "none yet"} · ${number(p.prompt_tokens)} prompt + ` +
        `${number(p.completion_tokens)} completion tokens · ${number(p.messages)} messages`
      : "";
    if (!this.prompt.hasChildNodes()) this.prompt.append(markdown(task.prompt));
    this.cancelButton.hidden = !CANCELLABLE.has(task.status);
    this.deleteButton.hidden = !FINAL.has(task.status);
    if (changed) {
      this.showReview(task.status === "awaiting_input" ? task.plan ?? "" : null);
      // Listed when the view opens and at each status: attachments fetched by URL appear once the
      // run has them, the outputs once the task has ended.
      this.fileList.load(FINAL.has(task.status));
      this.app.changed(this.id, task.status);
    }
  }

  showReview(plan) {
    this.review.hidden = plan === null;
    if (plan === null) return this.review.replaceChildren();
    const edit = el("textarea", { id: "plan-edit", rows: "8" });
    edit.value = plan;
    this.review.replaceChildren(
      el("h3", {}, "Plan for review"),
      el("p", { class: "muted" }, "The team waits for you: approve the plan, revise it, or reject it (the task ends cancelled)."),
      el("div", { class: "plan" }, markdown(plan)),
      el("label", { for: "plan-edit" }, "Revised plan"),
      edit,
      el("div", { class: "actions" },
        button("Approve", () => this.act("POST", "/input", { action: "approve" }), { class: "primary" }),
        button("Revise", () => this.act("POST", "/input", { action: "revise", plan: edit.value })),
        button("Reject", () => this.act("POST", "/input", { action: "reject" }))),
    );
  }

  async showResult() {
    const { status, data } = await call("GET", taskPath(this.id, "/result"), { signal: this.stop.signal });
    if (status !== 200) return;
    const run = data.result;
    const total = data.prompt_tokens + data.completion_tokens;
    const usage = el("table", { class: "usage" }, el("caption", {}, "Tokens by agent"),
      el("tr", {}, el("th", { scope: "col" }, "Agent"), el("th", { scope: "col" }, "Prompt"), el("th", { scope: "col" }, "Completion")));
    for (const [agent, u] of Object.entries(run.usage_by_agent)) {
      usage.append(el("tr", {}, el("th", { scope: "row" }, agent), el("td", {}, number(u.prompt_tokens)), el("td", {}, number(u.completion_tokens))));
    }
    this.result.replaceChildren(
      el("h3", {}, "Result"),
      facts([
        ["Status", badge(data.status)],
        ["Stop reason", run.task_result.stop_reason],
        ["Error", data.error],
        ["Tokens", `${number(data.prompt_tokens)} prompt + ${number(data.completion_tokens)} completion = ${number(total)}`],
        ["Time", `${run.execution_time.toFixed(run.execution_time < 10 ? 2 : 1)} s`],
        ["Attempts", number(run.attempts)],
      ]),
      ...(run.task_result.final_answer ? [el("h4", {}, "Final answer"), el("div", { class: "answer" }, markdown(run.task_result.final_answer, 5))] : []),
      el("div", { class: "scroll" }, usage),
    );
    this.result.hidden = false;
  }

  async act(method, tail, body) {
    this.error.hidden = true;
    try {
      const { data } = await call(method, taskPath(this.id, tail), { body });
      if (data?.detail) this.app.notify(data.detail);
    } catch (error) {
      this.fail(error);
    }
    this.refresh();
  }

  showConfirm(on) {
    this.confirm.hidden = !on;
    this.deleteButton.hidden = on;
    if (on) this.confirm.querySelector("button").focus();
  }

  confirmDelete() {
    this.showConfirm(true);
  }

  async remove() {
    try {
      await call("DELETE", taskPath(this.id));
      this.app.deleted(this.id);
    } catch (error) {
      this.showConfirm(false);
      this.fail(error);
    }
  }

  fail(error) {
    this.error.textContent = error.message;
    this.error.hidden = false;
    this.app.failed(error);
  }
}

// A task's files (GET /tasks/{id}/files): its attachments and outputs with a download each, and the
// outputs that were not kept, with why. A download goes through fetchBlob (it carries the function
// key, which a plain link could not) and is handed to the browser by an <a download> on a blob: URL.
// File names are the team's or the caller's text: only ever set as text.

import { call, fetchBlob, taskPath } from "./api.js";
import { el } from "./dom.js";

// How long a downloaded file's blob: URL lives after the browser was handed it (some browsers read
// the blob after the click returns); then its memory is freed.
const REVOKE_AFTER_MS = 30_000;

/** `bytes` for people: "912 bytes", "48.8 KiB", "3.1 MiB". */
export function size(bytes) {
  if (bytes < 1024) return `${bytes} ${bytes === 1 ? "byte" : "bytes"}`;
  const [value, unit] = bytes < 1024 ** 2 ? [bytes / 1024, "KiB"] : [bytes / 1024 ** 2, "MiB"];
  return `${value.toFixed(1)} ${unit}`;
}

/** GET /tasks/{id}/files/{name}: `name` as the list gives it, each path segment encoded. */
export const filePath = (id, name) => taskPath(id, `/files/${name.split("/").map(encodeURIComponent).join("/")}`);

export class FilesView {
  /** `section`: where to draw (hidden while there is nothing to show); `signal` ends every call. */
  constructor(section, id, signal) {
    this.section = section;
    this.id = id;
    this.signal = signal;
    this.loads = 0;
  }

  /** List the files again; `final`: the task has ended, so its outputs are all there. */
  async load(final) {
    const load = ++this.loads;
    try {
      const { data } = await call("GET", taskPath(this.id, "/files"), { signal: this.signal });
      if (load === this.loads) this.draw(data, final);
    } catch (error) {
      if (this.signal.aborted || load !== this.loads) return;
      // 404: no such route (an app without task files), or the task is gone: nothing to show; the
      // task view itself says what a 401, 403 or 422 means.
      if ([401, 403, 404, 422].includes(error.status)) return this.shown("none", false);
      this.section.replaceChildren(el("h3", {}, "Files"),
        el("p", { class: "error" }, `The files could not be listed: ${error.message}`));
      this.shown("failed", true);
    }
  }

  /** `state` (listed, none, failed) says what the last load found; the section shows when `visible`. */
  shown(state, visible) {
    this.section.dataset.state = state;
    this.section.hidden = !visible;
  }

  draw({ inputs, outputs, skipped }, final) {
    this.problem = el("p", { class: "error", role: "alert", hidden: "" });
    this.section.replaceChildren(
      el("h3", {}, "Files"),
      ...(inputs.length ? [this.table("Attachments", inputs)] : []),
      ...(outputs.length ? [this.table("Outputs", outputs)] : []),
      ...(final || outputs.length ? [] : [el("p", { class: "muted" }, "The team's files are listed here when the task ends.")]),
      ...(skipped.length ? [el("h4", {}, "Not kept"), el("ul", { class: "skipped" },
        ...skipped.map((file) => el("li", {}, el("code", {}, file.name), `: ${file.reason}`)))] : []),
      this.problem,
    );
    this.shown("listed", Boolean(inputs.length || outputs.length || skipped.length));
  }

  table(caption, files) {
    const head = el("thead", {}, el("tr", {}, ...["Name", "Size", "Type"].map((text) => el("th", { scope: "col" }, text)), el("td")));
    const body = el("tbody");
    for (const file of files) {
      const save = el("button", { type: "button", "aria-label": `Download ${file.name}` }, "Download");
      save.addEventListener("click", () => this.download(file, save));
      body.append(el("tr", {},
        el("th", { scope: "row" }, el("code", {}, file.name)),
        el("td", {}, el("data", { value: String(file.size) }, size(file.size))),
        el("td", {}, file.content_type),
        el("td", {}, save)));
    }
    return el("div", { class: "scroll" }, el("table", { class: "file-list" }, el("caption", {}, caption), head, body));
  }

  async download(file, button) {
    button.disabled = true;
    this.problem.hidden = true;
    try {
      const blob = await fetchBlob(filePath(this.id, file.name), { signal: this.signal });
      const url = URL.createObjectURL(blob);
      const link = el("a", { href: url, download: file.name.split("/").pop(), hidden: "" });
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(url), REVOKE_AFTER_MS);
    } catch (error) {
      if (this.signal.aborted) return;
      this.problem.textContent = `${file.name} could not be downloaded: ${error.message}`;
      this.problem.hidden = false;
    } finally {
      button.disabled = false;
    }
  }
}

// A task's transcript: each message with its agent, Markdown rendered as DOM nodes, screenshots
// as images (only after checking the data is base64 of a PNG, JPEG, GIF or WebP), and following
// the live stream with GET /tasks/{id}/messages (cursor `after`, long poll `wait`). The cursor
// moves only past messages shown, so a dropped connection resumes with no duplicate or gap.

import { ApiError, call, taskPath } from "./api.js";
import { markdown } from "./markdown.js";

const WAIT_SECONDS = 20;
const PAGE = 100;
const MAX_BACKOFF_MS = 8000;

const SIGNATURES = [
  ["image/png", [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]],
  ["image/jpeg", [0xff, 0xd8, 0xff]],
  ["image/gif", [0x47, 0x49, 0x46, 0x38, -1, 0x61]], // GIF87a, GIF89a
  ["image/webp", [0x52, 0x49, 0x46, 0x46, -1, -1, -1, -1, 0x57, 0x45, 0x42, 0x50]], // RIFF....WEBP
];
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/** The image type of base64 data ("image/png", ...), or null when it is not one we show. */
export function imageType(data) {
  if (typeof data !== "string" || data.length % 4 !== 0 || !BASE64.test(data)) return null;
  let head;
  try {
    head = atob(data.slice(0, 16));
  } catch {
    return null;
  }
  const bytes = Array.from(head, (c) => c.charCodeAt(0));
  const found = SIGNATURES.find(([, sig]) => sig.length <= bytes.length && sig.every((b, i) => b < 0 || bytes[i] === b));
  return found ? found[0] : null;
}

function el(tag, className, ...children) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  node.append(...children);
  return node;
}

function imageContent(message) {
  const type = imageType(message.content);
  if (type === null) return el("p", "placeholder", "An image that is not a PNG, JPEG, GIF or WebP: not shown.");
  const img = el("img", "shot");
  img.alt = `Screenshot from ${message.source}`;
  img.src = `data:${type};base64,${message.content}`;
  return img;
}

function imageRefContent(message) {
  let bytes = "";
  try {
    const ref = JSON.parse(message.content);
    if (Number.isInteger(ref.bytes)) bytes = ` (${ref.bytes.toLocaleString()} bytes)`;
  } catch {
    /* the placeholder says enough */
  }
  return el("p", "placeholder", `Image${bytes}: only its reference is kept here, not the picture.`);
}

/** One transcript entry as a list item: the agent, then its content. */
export function messageItem(message, position) {
  const item = el("li", "message");
  item.dataset.position = String(position);
  const source = String(message.source ?? "");
  item.append(el("p", "agent", source, el("span", "kind", ` · ${message.type ?? ""}`)));
  if (message.type === "base64_image") item.append(imageContent(message));
  else if (message.type === "image_ref") item.append(imageRefContent(message));
  else item.append(el("div", "content", markdown(String(message.content ?? ""))));
  return item;
}

const sleep = (ms, signal) => new Promise((resolve) => {
  const done = () => {
    clearTimeout(timer);
    window.removeEventListener("online", done);
    resolve();
  };
  const timer = setTimeout(done, ms);
  window.addEventListener("online", done); // back online: try at once
  signal.addEventListener("abort", done, { once: true });
});

/**
 * Follow task `id` into the list `into` until the stream is finished or `signal` aborts.
 * `onPage(page)` after each page; `onConnection(state, error)` with "live", "retrying" or "stopped".
 */
export async function follow(id, into, { signal, onPage, onConnection }) {
  let after = 0;
  let attempt = null;
  let failures = 0;
  while (!signal.aborted) {
    let page;
    try {
      ({ data: page } = await call("GET", taskPath(id, "/messages"), {
        query: { after, limit: PAGE, wait: WAIT_SECONDS }, signal,
      }));
    } catch (error) {
      if (signal.aborted) return;
      const transient = !(error instanceof ApiError) || error.status >= 500 || error.status === 429;
      onConnection(transient ? "retrying" : "stopped", error);
      if (!transient) return;
      const backoff = Math.min(MAX_BACKOFF_MS, 500 * 2 ** failures++);
      await sleep(Math.max(backoff, error.retryAfter * 1000 || 0), signal);
      continue;
    }
    failures = 0;
    if (page.messages.length && page.attempt !== attempt) {
      if (attempt !== null) {
        into.replaceChildren(el("li", "note", `Attempt ${page.attempt} started the transcript over.`));
      }
      attempt = page.attempt;
    }
    page.messages.forEach((message, i) => into.append(messageItem(message, after + i)));
    after = page.next_after;
    onConnection(page.finished ? "finished" : "live");
    onPage(page);
    if (page.finished) return;
  }
}

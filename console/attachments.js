// Attachments of the "New task" form, as POST /tasks's `files` wants them: each chosen file's bytes
// in base64 ({name, content}), or a URL the run fetches ({name, url}). The API's default limits are
// checked before anything is read or sent; the API still judges, and its 422 names the file here.

import { ApiError } from "./api.js";

const MIB = 1024 * 1024;
// The API's defaults (docs/files.md): FILES_MAX_COUNT, and FILES_INLINE_MAX_BYTES, decoded bytes of
// all inline files of one request. A deployment with lower limits answers 422 past them.
export const LIMITS = { count: 20, inlineBytes: 8 * MIB };
// btoa takes a string of byte values; a whole file as one call's arguments would overflow the stack.
// A multiple of 3 bytes, so the chunks' base64 join into the file's without padding in between.
const CHUNK = 3 * 8192;

const bytes = (n) => `${Number(n).toLocaleString("en")} bytes`;

/** An attachment that cannot be sent as chosen; nothing was sent. */
export class AttachmentProblem extends Error {}

/** `data` (a Uint8Array) in standard, padded base64. */
export function base64(data) {
  const parts = [];
  for (let at = 0; at < data.length; at += CHUNK) {
    parts.push(btoa(String.fromCharCode.apply(null, data.subarray(at, at + CHUNK))));
  }
  return parts.join("");
}

async function read(file) {
  try {
    return new Uint8Array(await file.arrayBuffer());
  } catch (error) {
    throw new AttachmentProblem(`The file ${file.name} could not be read (${error.message}); choose it again.`);
  }
}

/** The files chosen in `input` (type=file) as [{name, content}], or undefined when none is. */
export async function inlineFiles(input) {
  const files = Array.from(input.files);
  if (!files.length) return undefined;
  if (files.length > LIMITS.count) {
    throw new AttachmentProblem(`${files.length} files are chosen: a task may have at most ${LIMITS.count}. Nothing was sent.`);
  }
  const total = files.reduce((sum, file) => sum + file.size, 0);
  if (total > LIMITS.inlineBytes) {
    throw new AttachmentProblem(`The chosen files come to ${bytes(total)}: at most ${bytes(LIMITS.inlineBytes)} ` +
      `(${LIMITS.inlineBytes / MIB} MiB) can be sent with a task; attach larger files by URL. Nothing was sent.`);
  }
  return Promise.all(files.map(async (file) => ({ name: file.name, content: base64(await read(file)) })));
}

/** A URL's file name: its last path segment, decoded (the API makes it safe or refuses it). */
function nameOf(url) {
  const last = url.pathname.split("/").filter(Boolean).pop();
  if (!last) return url.hostname;
  try {
    return decodeURIComponent(last);
  } catch {
    return last;
  }
}

/** The URLs in `textarea`, one a line, as [{name, url}], or undefined when there are none. */
export function urlFiles(textarea) {
  const lines = textarea.value.split("\n").map((line) => line.trim()).filter(Boolean);
  if (!lines.length) return undefined;
  return lines.map((line, index) => {
    let url;
    try {
      url = new URL(line);
    } catch {
      throw new AttachmentProblem(`Attachment URL ${index + 1} is not an address (https://…). Nothing was sent.`);
    }
    return { name: nameOf(url), url: url.href };
  });
}

/** `error` with each of its 422 entries about `files[i]` naming that file instead of its index. */
export function namingFiles(error, files) {
  if (!(error instanceof ApiError) || !Array.isArray(error.detail) || !files) return error;
  const detail = error.detail.map((entry) => {
    const [, field, index] = entry.loc || [];
    if (field !== "files" || !Number.isInteger(index) || !files[index]) return entry;
    return { ...entry, loc: ["body", `files: ${files[index].name}`] };
  });
  return new ApiError(error.status, detail, error.retryAfter);
}

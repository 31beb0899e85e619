// The app's own API, called from this origin with the caller's credentials: the function key the
// person entered (kept in sessionStorage, for this browser session only) as x-functions-key, and
// with App Service authentication its session cookie (same-origin fetches send it).

const KEY_NAME = "magentic-console.function-key";
// The console lives at <routes>/console/; the API's routes are beside it.
const API_ROOT = new URL("../", document.baseURI);

export const functionKey = {
  get: () => sessionStorage.getItem(KEY_NAME) || "",
  set: (value) => (value ? sessionStorage.setItem(KEY_NAME, value) : sessionStorage.removeItem(KEY_NAME)),
};

const SIGN_IN_AGAIN = "the app sent this request to a sign-in page: reload the page to sign in again";

/** An answer outside 2xx; `message` says what happened, with the API's `detail` when it sent one. */
export class ApiError extends Error {
  constructor(status, detail, retryAfter) {
    super(describe(status, detail));
    this.status = status;
    this.retryAfter = Number(retryAfter) || 0;
  }
}

/** The app could not be reached (offline, DNS, connection refused or reset). */
export class Unreachable extends Error {
  constructor() {
    super("The app cannot be reached: check the network connection; the console tries again.");
  }
}

function describe(status, detail) {
  let text = "";
  if (typeof detail === "string") text = detail;
  else if (Array.isArray(detail)) {
    text = detail.map((d) => [(d.loc || []).slice(1).join("."), d.msg].filter(Boolean).join(": ")).join("; ");
  }
  if (!text && status === 401) text = "a function key is needed, or the one given is wrong (Function key, above)";
  if (!text && status === 403) text = "this caller may not do that";
  if (!text && status >= 500) text = "the app failed to answer";
  return `${status}: ${text || "the request was refused"}`;
}

async function bodyOf(response) {
  const type = response.headers.get("Content-Type") || "";
  if (!type.startsWith("application/json")) return null;
  try {
    return await response.json();
  } catch {
    return null;
  }
}

/**
 * `method path` on the API; resolves to {status, data} for a 2xx answer, throws ApiError for any
 * other and Unreachable when no answer came. `query` values that are empty are left out.
 */
export async function call(method, path, { query = {}, body, headers = {}, signal } = {}) {
  const url = new URL(path, API_ROOT);
  for (const [name, value] of Object.entries(query)) {
    if (value !== undefined && value !== null && value !== "") url.searchParams.set(name, String(value));
  }
  // X-Requested-With: sign-in middleware that honours it answers 401 instead of a login redirect.
  const sent = { Accept: "application/json", "X-Requested-With": "XMLHttpRequest", ...headers };
  if (functionKey.get()) sent["x-functions-key"] = functionKey.get();
  if (body !== undefined) sent["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(url, {
      method, headers: sent, signal, credentials: "same-origin", cache: "no-store", redirect: "manual",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (error) {
    if (signal?.aborted) throw error;
    throw new Unreachable();
  }
  if (response.type === "opaqueredirect") throw new ApiError(302, SIGN_IN_AGAIN); // never followed
  const data = await bodyOf(response);
  if (!response.ok) throw new ApiError(response.status, data?.detail, response.headers.get("Retry-After"));
  return { status: response.status, data };
}

export const taskPath = (id, tail = "") => `tasks/${encodeURIComponent(id)}${tail}`;

// The management API as the page uses it: Basic auth from sessionStorage,
// JSON in and out, and one place that notices when the broker does not answer.

const KEY = "amqpd.credentials";
const listeners = new Set();
let reachable = true;

export class ApiError extends Error {
  constructor(status, body) {
    super((body && (body.reason || body.error)) || `HTTP ${status}`);
    this.status = status;
    this.body = body;
  }
}

export function credentials() {
  return sessionStorage.getItem(KEY);
}

export function logIn(username, password) {
  // btoa takes Latin-1 only: encode UTF-8 first, as browsers do for Basic auth.
  const bytes = new TextEncoder().encode(`${username}:${password}`);
  sessionStorage.setItem(KEY, btoa(String.fromCharCode(...bytes)));
}

export function logOut() {
  sessionStorage.removeItem(KEY);
}

/** Called with true/false whenever the API starts or stops answering. */
export function onReachability(listener) {
  listeners.add(listener);
}

function setReachable(value, detail) {
  if (value === reachable) return;
  reachable = value;
  for (const listener of listeners) listener(value, detail);
}

/** One path segment: vhosts and names may hold "/" (the default vhost is "/"). */
export const enc = (s) => encodeURIComponent(s);

export async function api(path, { method = "GET", body, headers = {}, raw = false } = {}) {
  // credentials "omit": the browser neither adds logins of its own nor, on a
  // 401 with www-authenticate (RabbitMQ's answer to a bad login), opens its
  // login dialog; the Authorization header below is still sent. A broker that
  // accepts but never answers counts as unreachable after 10 s.
  const init = {
    method, headers: { ...headers }, cache: "no-store", credentials: "omit",
    signal: AbortSignal.timeout(10000),
  };
  const auth = credentials();
  if (auth) init.headers.Authorization = `Basic ${auth}`;
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = typeof body === "string" ? body : JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(`api/${path}`, init);
  } catch (err) {
    setReachable(false, "The management API does not answer.");
    throw new ApiError(0, { reason: "The broker is unreachable" });
  }
  if (response.status >= 502 && response.status <= 504) {
    setReachable(false, `The management API answered ${response.status}.`);
    throw new ApiError(response.status, null);
  }
  setReachable(true);
  const text = await response.text();
  let parsed = null;
  if (text) {
    try { parsed = JSON.parse(text); } catch { parsed = { reason: text }; }
  }
  if (response.status === 401 && (!parsed || parsed.error === "not_authorized")) {
    // The credentials no longer work (a changed password, a deleted user).
    window.dispatchEvent(new CustomEvent("amqpd:login-failed"));
  }
  if (!response.ok) throw new ApiError(response.status, parsed);
  return raw ? { status: response.status, body: parsed, text } : parsed;
}

// What every screen of the admin page shares: building DOM (values are set
// as text, never parsed as HTML: user agents and usernames are
// attacker-controlled), the status line, and the admin API call.

const statusLine = document.getElementById("status");
const CREDS = "session-authority-admin";

export const h = (tag, attrs = {}, ...children) => {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (v !== undefined && v !== null && v !== false) el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat(Number.POSITIVE_INFINITY)) if (c !== null && c !== undefined) el.append(c instanceof Node ? c : String(c));
  return el;
};

export function say(text, isError = false) {
  statusLine.textContent = text;
  statusLine.className = isError ? "error" : "";
}

export function credentials() {
  const raw = sessionStorage.getItem(CREDS);
  return raw ? JSON.parse(raw) : null;
}

export const storeCredentials = (c) => sessionStorage.setItem(CREDS, JSON.stringify(c));
export const forgetCredentials = () => sessionStorage.removeItem(CREDS);

/** Fired when the admin API refuses the stored credentials: the page shows the sign-in form again. */
export const SIGNED_OUT = "admin-signed-out";

export async function api(method, path, body) {
  const c = credentials();
  // RFC 6749 §2.3.1: form-encode, then base64.
  const basic = btoa(`${encodeURIComponent(c.id)}:${encodeURIComponent(c.secret)}`);
  const res = await fetch(path, {
    method,
    headers: { authorization: `Basic ${basic}`, ...(body ? { "content-type": "application/json" } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  if (res.status === 401) {
    forgetCredentials();
    window.dispatchEvent(new Event(SIGNED_OUT));
    throw new Error("the client credentials were refused");
  }
  const data = res.status === 204 ? null : await res.json();
  if (!res.ok) throw new Error(data?.error_description ?? `HTTP ${res.status}`);
  return data;
}

export const when = (iso) => (iso ? new Date(iso).toLocaleString() : "—");

/** A table with a header row of plain column names. */
export const table = (columns, rows) =>
  h(
    "table",
    {},
    h(
      "thead",
      {},
      h(
        "tr",
        {},
        columns.map((c) => h("th", { scope: "col" }, c)),
      ),
    ),
    h("tbody", {}, rows),
  );

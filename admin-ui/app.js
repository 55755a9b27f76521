// The admin page: plain DOM code over the admin API (no build step). Every
// value from the server is set with textContent, never parsed as HTML: user
// agents and usernames are attacker-controlled (lib.js).

import { api, credentials, forgetCredentials, h, SIGNED_OUT, say, storeCredentials, when } from "./lib.js";
import { applicationsView, applicationView } from "./applications.js";

const main = document.getElementById("main");
const nav = document.getElementById("nav");

const device = (d) => [d.browser, d.os, d.type].filter(Boolean).join(" · ") || "unknown";

function signInView() {
  nav.hidden = true;
  const form = h(
    "form",
    { id: "sign-in-form" },
    h("label", { for: "client-id" }, "Client id"),
    h("input", { id: "client-id", name: "client_id", autocomplete: "username", required: true }),
    h("label", { for: "client-secret" }, "Client secret"),
    h("input", { id: "client-secret", name: "client_secret", type: "password", autocomplete: "current-password", required: true }),
    h("button", { type: "submit" }, "Sign in"),
  );
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    storeCredentials({ id: form.client_id.value, secret: form.client_secret.value });
    try {
      await api("GET", "/admin/keys");
      say("Signed in.");
      location.hash = "#/users";
      void render();
    } catch (err) {
      forgetCredentials();
      say(`Sign-in failed: ${err.message}`, true);
    }
  });
  return h("section", { "aria-labelledby": "sign-in-title" }, h("h2", { id: "sign-in-title" }, "Sign in with an admin client"), form);
}

async function usersView(params) {
  const q = params.get("q") ?? "";
  const data = await api("GET", `/admin/users?${new URLSearchParams({ q, limit: "50" })}`);
  const form = h(
    "form",
    { class: "inline", role: "search" },
    h("label", {}, "Username contains", h("input", { name: "q", value: q, type: "search" })),
    h("button", { type: "submit" }, "Search"),
  );
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    location.hash = `#/users?${new URLSearchParams({ q: form.q.value })}`;
  });
  const rows = data.users.map((u) =>
    h(
      "tr",
      {},
      h("td", {}, h("a", { href: `#/user/${u.id}?${new URLSearchParams({ name: u.username })}` }, u.username)),
      h("td", {}, u.disabled ? h("span", { class: "badge bad" }, "disabled") : h("span", { class: "badge ok" }, "active")),
      h("td", {}, String(u.live_sessions)),
      h("td", {}, when(u.created_at)),
    ),
  );
  return h(
    "section",
    {},
    h("h2", {}, "Users"),
    form,
    h(
      "table",
      {},
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          h("th", { scope: "col" }, "Username"),
          h("th", { scope: "col" }, "State"),
          h("th", { scope: "col" }, "Live sessions"),
          h("th", { scope: "col" }, "Created"),
        ),
      ),
      h("tbody", {}, rows),
    ),
    data.users.length === 0 ? h("p", {}, "No users match.") : null,
  );
}

async function userView(id, params) {
  const { sessions } = await api("GET", `/admin/users/${id}/sessions`);
  const revokeAll = h("button", { type: "button", class: "danger" }, "Revoke all sessions");
  revokeAll.addEventListener("click", async () => {
    await api("DELETE", `/admin/users/${id}/sessions`);
    say("All sessions of this user were revoked.");
    void render();
  });
  const rows = sessions.map((s) => {
    const revoke = h("button", { type: "button", class: "danger", "data-session": s.id }, "Revoke");
    revoke.addEventListener("click", async () => {
      await api("DELETE", `/admin/sessions/${s.id}`);
      say(`Session ${s.id} was revoked.`);
      void render();
    });
    const history = h("details", {}, h("summary", {}, "Refresh history"));
    history.addEventListener("toggle", async () => {
      if (!history.open || history.dataset.loaded) return;
      history.dataset.loaded = "1";
      const detail = await api("GET", `/admin/sessions/${s.id}`);
      history.append(
        h(
          "table",
          {},
          h("thead", {}, h("tr", {}, h("th", {}, "Issued"), h("th", {}, "Rotated"), h("th", {}, "IP"))),
          h(
            "tbody",
            {},
            detail.refresh_history.map((r) =>
              h("tr", {}, h("td", {}, when(r.created_at)), h("td", {}, when(r.rotated_at)), h("td", {}, r.ip ?? "—")),
            ),
          ),
        ),
      );
    });
    return h(
      "tr",
      { "data-session-row": s.id },
      h("td", { class: "mono" }, s.id),
      h("td", {}, device(s.device), s.device_flagged ? h("span", { class: "badge bad" }, " flagged") : null),
      h("td", {}, s.last_ip ?? "—"),
      h("td", {}, when(s.last_seen_at)),
      h("td", {}, s.revoked_at ? `revoked (${s.revoked_reason})` : `until ${when(s.idle_expires_at)}`),
      h("td", {}, s.revoked_at ? null : revoke, history),
    );
  });
  return h(
    "section",
    {},
    h("h2", {}, "Sessions of ", params.get("name") ?? "user", " ", h("span", { class: "mono hint" }, id)),
    h("p", {}, h("a", { href: `#/audit?user=${id}` }, "Audit events of this user")),
    revokeAll,
    h(
      "table",
      {},
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          ["Session", "Device", "Last IP", "Last seen", "State", ""].map((c) => h("th", { scope: "col" }, c)),
        ),
      ),
      h("tbody", {}, rows),
    ),
    sessions.length === 0 ? h("p", {}, "No live sessions.") : null,
  );
}

async function auditView(params) {
  const query = new URLSearchParams();
  for (const k of ["user", "session", "type", "cursor"]) if (params.get(k)) query.set(k, params.get(k));
  query.set("limit", "50");
  const data = await api("GET", `/admin/audit?${query}`);
  const form = h(
    "form",
    { class: "inline" },
    h("label", {}, "User id", h("input", { name: "user", value: params.get("user") ?? "" })),
    h("label", {}, "Session id", h("input", { name: "session", value: params.get("session") ?? "" })),
    h("label", {}, "Type", h("input", { name: "type", value: params.get("type") ?? "" })),
    h("button", { type: "submit" }, "Filter"),
  );
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const p = new URLSearchParams();
    for (const k of ["user", "session", "type"]) if (form[k].value) p.set(k, form[k].value);
    location.hash = `#/audit?${p}`;
  });
  const rows = data.events.map((ev) =>
    h(
      "tr",
      {},
      h("td", {}, when(ev.at)),
      h("td", {}, ev.type),
      h("td", { class: "mono" }, ev.actor),
      h("td", { class: "mono" }, ev.user_id ?? ""),
      h("td", { class: "mono" }, ev.session_id ?? ""),
      h("td", {}, ev.ip ?? ""),
      h("td", { class: "mono" }, JSON.stringify(ev.detail)),
    ),
  );
  const next = new URLSearchParams(params);
  if (data.next_cursor) next.set("cursor", data.next_cursor);
  return h(
    "section",
    {},
    h("h2", {}, "Audit log"),
    form,
    h(
      "table",
      {},
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          ["When", "Type", "Actor", "User", "Session", "IP", "Detail"].map((c) => h("th", { scope: "col" }, c)),
        ),
      ),
      h("tbody", {}, rows),
    ),
    data.next_cursor ? h("a", { href: `#/audit?${next}` }, "Older events →") : h("p", {}, "End of the log."),
  );
}

async function keysView() {
  const { keys } = await api("GET", "/admin/keys");
  const rotate = h("button", { type: "button" }, "Rotate now");
  rotate.addEventListener("click", async () => {
    const k = await api("POST", "/admin/keys/rotate");
    say(`Key ${k.kid} is published and signs from ${when(k.activates_at)}.`);
    void render();
  });
  const rows = keys.map((k) =>
    h(
      "tr",
      {},
      h("td", { class: "mono" }, k.kid),
      h("td", {}, k.alg),
      h("td", {}, k.state),
      h("td", {}, when(k.activates_at)),
      h("td", {}, when(k.retired_at)),
      h("td", {}, when(k.expires_at)),
    ),
  );
  return h(
    "section",
    {},
    h("h2", {}, "Signing keys"),
    rotate,
    h(
      "table",
      {},
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          ["Key id", "Algorithm", "State", "Signs from", "Retired", "Unpublished after"].map((c) => h("th", { scope: "col" }, c)),
        ),
      ),
      h("tbody", {}, rows),
    ),
  );
}

async function render() {
  if (!credentials()) {
    main.replaceChildren(signInView());
    return;
  }
  nav.hidden = false;
  const [path, query = ""] = location.hash.replace(/^#/, "").split("?");
  const params = new URLSearchParams(query);
  try {
    let view;
    if (path?.startsWith("/user/")) view = await userView(decodeURIComponent(path.slice(6)), params);
    else if (path === "/audit") view = await auditView(params);
    else if (path === "/keys") view = await keysView();
    else if (path === "/applications") view = await applicationsView();
    else if (path?.startsWith("/application/")) view = await applicationView(decodeURIComponent(path.slice(13)), render);
    else view = await usersView(params);
    main.replaceChildren(view);
  } catch (err) {
    say(err.message, true);
  }
}

document.getElementById("sign-out").addEventListener("click", () => {
  forgetCredentials();
  say("Signed out.");
  void render();
});
window.addEventListener("hashchange", render);
window.addEventListener(SIGNED_OUT, () => void render());
void render();

// The admin page: plain DOM code over the admin API (no build step). Every
// value from the server is set with textContent, never parsed as HTML: user
// agents and usernames are attacker-controlled (lib.js).

import { api, credentials, forgetCredentials, h, SIGNED_OUT, say, storeCredentials, table, when } from "./lib.js";
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

/** Who vouches for a user: its own password, or the service client that issued it and the subject it knows it by. */
const origin = (u) =>
  u.kind === "external"
    ? [
        h("span", { class: "mono", "data-issuer": "" }, u.issuer),
        " · ",
        h("span", { class: "mono", "data-external-subject": "" }, u.external_subject),
      ]
    : "—";

const claimNames = (claims) => Object.keys(claims ?? {}).join(", ") || "—";

async function usersView(params) {
  const q = params.get("q") ?? "";
  const data = await api("GET", `/admin/users?${new URLSearchParams({ q, limit: "50" })}`);
  const form = h(
    "form",
    { class: "inline", role: "search" },
    h("label", {}, "Username or external subject contains", h("input", { name: "q", value: q, type: "search" })),
    h("button", { type: "submit" }, "Search"),
  );
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    location.hash = `#/users?${new URLSearchParams({ q: form.q.value })}`;
  });
  const rows = data.users.map((u) =>
    h(
      "tr",
      { "data-user-row": u.id },
      h("td", {}, h("a", { href: `#/user/${u.id}` }, u.username)),
      h("td", {}, h("span", { class: `badge ${u.kind}`, "data-kind": "" }, u.kind)),
      h("td", {}, origin(u)),
      h("td", {}, u.disabled ? h("span", { class: "badge bad" }, "disabled") : h("span", { class: "badge ok" }, "active")),
      h("td", {}, String(u.live_sessions)),
      h("td", { class: "mono" }, claimNames(u.claims)),
      h("td", {}, when(u.created_at)),
    ),
  );
  return h(
    "section",
    {},
    h("h2", {}, "Users"),
    form,
    table(["Username", "Kind", "Issuer · external subject", "State", "Live sessions", "Claims", "Created"], rows),
    data.users.length === 0 ? h("p", {}, "No users match.") : null,
  );
}

/** The object the text is in JSON, or null when it is not JSON or not an object. */
function jsonObject(text) {
  try {
    const v = JSON.parse(text);
    return v !== null && typeof v === "object" && !Array.isArray(v) ? v : null;
  } catch {
    return null;
  }
}

/**
 * The claims editor. The page only checks that the text is a JSON object;
 * the service judges the claims (reserved names, size) and its
 * error_description is shown as it is.
 */
function claimsForm(user) {
  const text = h(
    "textarea",
    { id: "user-claims", name: "claims", rows: 8, spellcheck: "false", class: "mono", "aria-describedby": "user-claims-hint" },
    JSON.stringify(user.claims ?? {}, null, 2),
  );
  const form = h(
    "form",
    { class: "claims" },
    h("label", { for: "user-claims" }, "Claims (a JSON object)"),
    text,
    h(
      "p",
      { id: "user-claims-hint", class: "hint" },
      "Saving replaces all of the user's claims ({} clears them). Access tokens issued before the change stop working at once; sessions stay, and their next refresh carries the new claims.",
    ),
    h("button", { type: "submit" }, "Save claims"),
  );
  text.addEventListener("input", () => text.removeAttribute("aria-invalid"));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const claims = jsonObject(text.value);
    if (!claims) {
      text.setAttribute("aria-invalid", "true");
      say('Claims must be a JSON object, like {"role": "editor"}.', true);
      return;
    }
    try {
      await api("PATCH", `/admin/users/${user.id}`, { claims });
      say(`Claims of ${user.username} were saved.`);
      void render();
    } catch (err) {
      text.setAttribute("aria-invalid", "true");
      say(err.message, true);
    }
  });
  return form;
}

async function userView(id) {
  const [user, { sessions }] = await Promise.all([api("GET", `/admin/users/${id}`), api("GET", `/admin/users/${id}/sessions`)]);
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
  const fact = (term, ...value) => [h("dt", {}, term), h("dd", {}, ...value)];
  return h(
    "section",
    {},
    h("h2", {}, "User ", user.username, " ", h("span", { class: "mono hint" }, user.id)),
    h(
      "dl",
      { class: "facts" },
      fact("Kind", h("span", { class: `badge ${user.kind}`, "data-kind": "" }, user.kind)),
      user.kind === "external"
        ? [
            fact("Issuer", h("span", { class: "mono", "data-issuer": "" }, user.issuer)),
            fact("External subject", h("span", { class: "mono", "data-external-subject": "" }, user.external_subject)),
          ]
        : null,
      fact("State", user.disabled ? "disabled" : "active"),
      fact("Created", when(user.created_at)),
    ),
    h("p", {}, h("a", { href: `#/audit?user=${id}` }, "Audit events of this user")),
    h("h3", {}, "Claims"),
    claimsForm(user),
    h("h3", {}, "Sessions"),
    revokeAll,
    table(["Session", "Device", "Last IP", "Last seen", "State", ""], rows),
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
    if (path?.startsWith("/user/")) view = await userView(decodeURIComponent(path.slice(6)));
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

// The Applications screens (SPEC §10): list, create and edit applications.
// A policy change takes effect at once on existing sessions, so it is saved
// only after the operator has seen its dry run and confirmed it.
import { api, h, say, table } from "./lib.js";

/** SPEC §10's policy fields; an empty input means the service-wide default (§9's variable). */
const POLICY = [
  { wire: "access_token_ttl", label: "Access token lifetime", kind: "duration", env: "ACCESS_TOKEN_TTL" },
  { wire: "refresh_token_ttl", label: "Idle lifetime (refresh token)", kind: "duration", env: "REFRESH_TOKEN_TTL" },
  { wire: "session_max_lifetime", label: "Absolute lifetime", kind: "duration", env: "SESSION_MAX_LIFETIME" },
  { wire: "max_sessions_per_user", label: "Sessions per user", kind: "count", env: "MAX_SESSIONS_PER_USER" },
  { wire: "on_limit", label: "At the limit", kind: ["evict_oldest", "deny"], env: "evict_oldest" },
  { wire: "refresh_reuse_grace", label: "Refresh reuse grace", kind: "duration", env: "REFRESH_REUSE_GRACE" },
  { wire: "device_change_policy", label: "Device change", kind: ["default", "revoke", "flag", "allow"], env: "DEVICE_CHANGE_POLICY" },
];
const TRANSPORTS = ["cookie", "bearer"];
const UNITS = [
  ["d", 86_400_000],
  ["h", 3_600_000],
  ["m", 60_000],
  ["s", 1000],
];

/** Seconds as the API gives them, in the largest unit that keeps them whole ("15m"); the form sends that text back. */
function durationText(seconds) {
  const ms = Math.round(seconds * 1000);
  if (ms === 0) return "0s";
  for (const [unit, size] of UNITS) if (ms % size === 0) return `${ms / size}${unit}`;
  return `${ms}ms`;
}

const fieldText = (f, v) => (v === undefined || v === null ? "" : f.kind === "duration" ? durationText(v) : String(v));

const policySummary = (policy) => {
  const set = POLICY.filter((f) => policy?.[f.wire] !== undefined && policy[f.wire] !== null);
  return set.length ? set.map((f) => `${f.wire} ${fieldText(f, policy[f.wire])}`).join(", ") : "service defaults";
};

export async function applicationsView() {
  const { applications } = await api("GET", "/admin/applications");
  const rows = applications.map((a) =>
    h(
      "tr",
      { "data-application-row": a.id },
      h("td", { class: "mono" }, h("a", { href: `#/application/${encodeURIComponent(a.id)}` }, a.id)),
      h("td", {}, a.name),
      h("td", {}, a.transports.join(", ")),
      h("td", { class: "mono" }, a.origins.length ? a.origins.join(" ") : "—"),
      h("td", {}, policySummary(a.policy)),
    ),
  );
  return h(
    "section",
    {},
    h("h2", {}, "Applications"),
    h("p", {}, h("a", { href: "#/application/new" }, "New application")),
    table(["Id", "Name", "Transports", "Origins", "Policy"], rows),
  );
}

/** The create form (`id` "new") or the edit form of one application. */
export async function applicationView(id, rerender) {
  const isNew = id === "new";
  const app = isNew
    ? { id: "", name: "", transports: [...TRANSPORTS], origins: [], policy: {} }
    : await api("GET", `/admin/applications/${encodeURIComponent(id)}`);
  const input = (name, label, attrs = {}) => [h("label", { for: `app-${name}` }, label), h("input", { id: `app-${name}`, name, ...attrs })];
  const policyInput = (f) => {
    const value = fieldText(f, app.policy?.[f.wire]);
    const ctl = Array.isArray(f.kind)
      ? h(
          "select",
          { id: `app-${f.wire}`, name: f.wire },
          h("option", { value: "" }, `service default (${f.env})`),
          f.kind.map((k) => h("option", { value: k, selected: k === value }, k)),
        )
      : h("input", {
          id: `app-${f.wire}`,
          name: f.wire,
          value,
          placeholder: `service default (${f.env})`,
          inputmode: f.kind === "count" ? "numeric" : undefined,
        });
    return [h("label", { for: `app-${f.wire}` }, f.label, " ", h("span", { class: "hint mono" }, f.wire)), ctl];
  };
  const save = h("button", { type: "submit" }, isNew ? "Create" : "Save");
  const form = h(
    "form",
    { class: "application" },
    input("id", "Id", { value: app.id, required: true, readonly: !isNew, pattern: "[a-z0-9._\\-]{1,64}", autocomplete: "off" }),
    input("name", "Name", { value: app.name, required: true, maxlength: 128 }),
    h(
      "fieldset",
      {},
      h("legend", {}, "Transports"),
      TRANSPORTS.map((tr) =>
        h(
          "label",
          { class: "check" },
          h("input", { type: "checkbox", name: "transports", value: tr, checked: app.transports.includes(tr) }),
          tr,
        ),
      ),
    ),
    h("label", { for: "app-origins" }, "Origins (one per line)"),
    h("textarea", { id: "app-origins", name: "origins", rows: 3, placeholder: "https://app.example.com" }, app.origins.join("\n")),
    h("fieldset", {}, h("legend", {}, "Policy (empty: the service-wide default)"), POLICY.map(policyInput)),
    save,
  );
  const effect = h("div", { class: "dry-run" });
  const initialPolicy = JSON.stringify(readPolicy(form));
  // The dry run shown is the one for the form as it is: any edit withdraws it.
  form.addEventListener("input", () => effect.replaceChildren());

  const persist = async (body) => {
    if (isNew)
      await api("POST", "/admin/applications", { id: form.elements.id.value.trim(), ...body, policy: withoutDefaults(body.policy) });
    else await api("PATCH", `/admin/applications/${encodeURIComponent(app.id)}`, body);
    const saved = isNew ? form.elements.id.value.trim() : app.id;
    say(`Application ${saved} was ${isNew ? "created" : "updated"}.`);
    if (isNew) location.hash = `#/application/${encodeURIComponent(saved)}`;
    else void rerender();
  };

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const body = readForm(form);
    try {
      // A new application has no sessions; a change of any other field changes none either.
      if (isNew || JSON.stringify(body.policy) === initialPolicy) return await persist(body);
      const dry = await api("POST", `/admin/applications/${encodeURIComponent(app.id)}/policy/dry-run`, { policy: body.policy });
      effect.replaceChildren(
        dryRunPanel(
          dry,
          () => persist(body),
          () => effect.replaceChildren(),
        ),
      );
      effect.querySelector("button")?.focus();
    } catch (err) {
      say(err.message, true);
    }
  });

  return h(
    "section",
    {},
    h("h2", {}, isNew ? "New application" : `Application ${app.id}`),
    h("p", {}, h("a", { href: "#/applications" }, "← All applications")),
    form,
    effect,
  );
}

/** What applying the policy now would do, and the confirm step. */
function dryRunPanel(dry, confirm, cancel) {
  const count = (key, label) => h("li", {}, label, ": ", h("strong", { "data-dry-run": key }, String(dry[key])));
  const yes = h("button", { type: "button", class: "danger" }, "Confirm and save");
  yes.addEventListener("click", async () => {
    yes.disabled = true;
    try {
      await confirm();
    } catch (err) {
      yes.disabled = false;
      say(err.message, true);
    }
  });
  const no = h("button", { type: "button" }, "Cancel");
  no.addEventListener("click", cancel);
  return h(
    "section",
    { "aria-labelledby": "dry-run-title", role: "region" },
    h("h3", { id: "dry-run-title" }, "Effect of this policy change"),
    h("p", {}, "The change takes effect at once, for existing sessions too. Applied now:"),
    h(
      "ul",
      {},
      count("sessions_ended", "Sessions it would end"),
      count("sessions_shortened", "Sessions it would shorten"),
      count("users_over_limit", "Users over the new limit (they lose their oldest sessions)"),
    ),
    dry.sample?.length
      ? h("p", { class: "hint" }, "Affected sessions, for example: ", h("span", { class: "mono" }, dry.sample.join(" ")))
      : null,
    h("p", {}, yes, " ", no),
  );
}

function readForm(form) {
  return {
    name: form.elements.name.value.trim(),
    transports: [...form.querySelectorAll('input[name="transports"]:checked')].map((c) => c.value),
    origins: form.elements.origins.value
      .split(/\s+/)
      .map((o) => o.trim())
      .filter(Boolean),
    policy: readPolicy(form),
  };
}

/** Every field: its value as the API takes it (§9's duration text or whole seconds), or null for the default. */
function readPolicy(form) {
  const policy = {};
  for (const f of POLICY) {
    const text = form.elements[f.wire].value.trim();
    if (text === "") policy[f.wire] = null;
    else if (f.kind === "count" || (f.kind === "duration" && /^\d+$/.test(text)))
      policy[f.wire] = Number.isSafeInteger(Number(text)) ? Number(text) : text;
    else policy[f.wire] = text;
  }
  return policy;
}

const withoutDefaults = (policy) => Object.fromEntries(Object.entries(policy).filter(([, v]) => v !== null));

import t, { type Test } from "tap";
import { mkdir } from "node:fs/promises";
import type { Page } from "playwright-core";
import { POLICY_FIELDS } from "../../src/domain/applications.js";
import { testApp } from "../fixtures/app.js";
import { launchChromium, withoutChromium } from "../fixtures/chromium.js";
import { eventually } from "../fixtures/eventually.js";
import { createClient } from "../fixtures/service-client.js";

const ADMIN = { id: "e2e-admin", secret: "e2e-admin-secret-0123456789" };
const ARTIFACTS = new URL("../../test-artifacts/", import.meta.url).pathname;
const BASIC = `Basic ${Buffer.from(`${ADMIN.id}:${ADMIN.secret}`).toString("base64")}`;

/** Chromium on the admin page, signed in with the admin client; errors in its console are collected. */
async function signedIn(t: Test, base: string): Promise<{ page: Page; consoleErrors: string[] }> {
  const browser = await launchChromium(t);
  const page = await browser.newPage();
  const consoleErrors: string[] = [];
  page.on("console", (m) => m.type() === "error" && consoleErrors.push(m.text()));
  await page.goto(`${base}/admin`);
  await page.getByLabel("Client id").fill(ADMIN.id);
  await page.getByLabel("Client secret").fill(ADMIN.secret);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("heading", { name: "Users" }).waitFor();
  return { page, consoleErrors };
}

t.test(
  "an operator signs in, finds a user, revokes a session, and its token is then inactive",
  { skip: withoutChromium(), timeout: 120_000 },
  async (t) => {
    const { app, createUser, login } = await testApp(t, "postgres", {
      env: { ADMIN_CLIENT_ID: ADMIN.id, ADMIN_CLIENT_SECRET: ADMIN.secret },
    });
    const user = await createUser("grace-hopper");
    const victim = (
      await login(
        user.username,
        user.password,
        {},
        { "user-agent": "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0" },
      )
    ).json();
    const introspector = (
      await app.inject({
        method: "POST",
        url: "/admin/clients",
        headers: { authorization: BASIC },
        payload: { name: "sibling", scopes: ["introspect"] },
      })
    ).json();
    const introspect = async () =>
      (
        await app.inject({
          method: "POST",
          url: "/introspect",
          payload: { token: victim.access_token, client_id: introspector.client_id, client_secret: introspector.client_secret },
        })
      ).json();
    t.equal((await introspect()).active, true, "the session is live before the operator acts");

    const base = await app.listen({ host: "127.0.0.1", port: 0 });
    const { page, consoleErrors } = await signedIn(t, base);

    await page.getByRole("searchbox").fill("grace");
    await page.getByRole("button", { name: "Search" }).click();
    await page.getByRole("link", { name: "grace-hopper" }).click();
    const row = page.locator(`[data-session-row="${victim.session_id}"]`);
    await row.waitFor();
    t.match(await row.textContent(), /Firefox/, "the session row shows the parsed device");
    await mkdir(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: `${ARTIFACTS}admin-session-page.png`, fullPage: true });

    await row.getByRole("button", { name: "Revoke" }).click();
    await page.getByText(`Session ${victim.session_id} was revoked.`).waitFor();
    t.equal((await introspect()).active, false, "the revoked session's token is inactive on /introspect");

    await page.getByRole("link", { name: "Audit log" }).click();
    await page.getByRole("heading", { name: "Audit log" }).waitFor();
    t.match(await page.locator("table").textContent(), /session_revoked/, "the revocation is in the audit log view");
    t.same(consoleErrors, [], "no errors in the page's console");
  },
);

t.test(
  "an operator creates an application, sees a policy change's dry run before saving it, and the change takes effect",
  { skip: withoutChromium(), timeout: 120_000 },
  async (t) => {
    const { app, services, createUser, login } = await testApp(t, "postgres", {
      env: { ADMIN_CLIENT_ID: ADMIN.id, ADMIN_CLIENT_SECRET: ADMIN.secret },
    });
    const admin = async (method: "GET" | "POST", url: string, payload?: object) =>
      (await app.inject({ method, url, headers: { authorization: BASIC }, ...(payload ? { payload } : {}) })).json();
    const { page, consoleErrors } = await signedIn(t, await app.listen({ host: "127.0.0.1", port: 0 }));

    await page.getByRole("link", { name: "Applications" }).click();
    await page.getByRole("heading", { name: "Applications" }).waitFor();
    t.ok(await page.locator('[data-application-row="default"]').count(), "the default application is listed");
    await page.getByRole("link", { name: "New application" }).click();
    await page.getByLabel("Id", { exact: true }).fill("partner-portal");
    await page.getByLabel("Name", { exact: true }).fill("Partner portal");
    await page.getByLabel("bearer", { exact: true }).uncheck();
    await page.getByLabel("Origins (one per line)").fill("https://partner.example");
    await page.getByLabel("Access token lifetime").fill("5m");
    await page.getByRole("button", { name: "Create" }).click();
    await page.getByText("Application partner-portal was created.").waitFor();
    t.match(
      await admin("GET", "/admin/applications/partner-portal"),
      {
        id: "partner-portal",
        name: "Partner portal",
        transports: ["cookie"],
        origins: ["https://partner.example"],
        policy: { access_token_ttl: 300 },
      },
      "the API has the application as the form said",
    );

    // Three sessions of one user in the application, which a limit of one leaves at one.
    const user = await createUser();
    for (let i = 0; i < 3; i++) {
      const res = await login(user.username, user.password, { transport: "cookie", client_id: "partner-portal" });
      t.equal(res.statusCode, 200, `login ${i + 1} in partner-portal`);
    }
    const live = () => services.db.prisma.session.count({ where: { userId: user.id, clientId: "partner-portal", revokedAt: null } });
    t.equal(await live(), 3);

    await page.getByLabel("Sessions per user").fill("1");
    await page.getByRole("button", { name: "Save" }).click();
    const panel = page.getByRole("region", { name: "Effect of this policy change" });
    await panel.waitFor();
    const shown = async (key: string) => (await panel.locator(`[data-dry-run="${key}"]`).textContent())?.trim();
    const policy = { ...Object.fromEntries(POLICY_FIELDS.map((f) => [f.wire, null])), access_token_ttl: "5m", max_sessions_per_user: 1 };
    const dry = await admin("POST", "/admin/applications/partner-portal/policy/dry-run", { policy });
    for (const key of ["sessions_ended", "sessions_shortened", "users_over_limit"]) {
      t.equal(await shown(key), String(dry[key]), `the page shows the API's ${key}`);
    }
    t.equal(await shown("users_over_limit"), "1", "one user is over the new limit");
    t.notOk(
      (await admin("GET", "/admin/applications/partner-portal")).policy.max_sessions_per_user,
      "nothing is saved before the confirm step",
    );
    t.equal(await live(), 3, "nor does the dry run end any session");
    await mkdir(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: `${ARTIFACTS}admin-application-dry-run.png`, fullPage: true });

    await panel.getByRole("button", { name: "Confirm and save" }).click();
    await page.getByText("Application partner-portal was updated.").waitFor();
    t.match(
      (await admin("GET", "/admin/applications/partner-portal")).policy,
      { access_token_ttl: 300, max_sessions_per_user: 1 },
      "the API has the new policy",
    );
    t.equal(await live(), 1, "and it took effect at once: the user is down to one session");
    t.same(consoleErrors, [], "no errors in the page's console");
  },
);

t.test(
  "an external user shows as external with its issuer, and an operator edits its claims on the page",
  { skip: withoutChromium(), timeout: 120_000 },
  async (t) => {
    const { app, services, createUser } = await testApp(t, "postgres", {
      env: { ADMIN_CLIENT_ID: ADMIN.id, ADMIN_CLIENT_SECRET: ADMIN.secret },
    });
    const admin = async (method: "GET" | "PATCH", url: string, payload?: object) =>
      app.inject({ method, url, headers: { authorization: BASIC }, ...(payload ? { payload } : {}) });
    const upstream = await createClient(services, ["sessions:issue"], "upstream idp");
    const sibling = await createClient(services, ["introspect"], "sibling");
    const subject = "okta|00u1ab2cd3EF";
    const issued = await app.inject({
      method: "POST",
      url: "/sessions",
      headers: { authorization: upstream.basic },
      payload: { external_subject: subject, amr: ["pwd", "otp"] },
    });
    t.equal(issued.statusCode, 200, issued.body);
    const { user_id: userId, access_token: oldToken } = issued.json();
    const local = await createUser("ada-local");
    const active = async (token: string) =>
      (
        await app.inject({
          method: "POST",
          url: "/introspect",
          payload: { token, client_id: sibling.id, client_secret: sibling.secret },
        })
      ).json().active;
    t.equal(await active(oldToken), true, "the external user's token is active before the change");

    const { page, consoleErrors } = await signedIn(t, await app.listen({ host: "127.0.0.1", port: 0 }));
    const externalRow = page.locator(`[data-user-row="${userId}"]`);
    await externalRow.waitFor();
    t.equal(await externalRow.locator("[data-kind]").textContent(), "external", "the list shows the external kind");
    t.equal(await externalRow.locator("[data-issuer]").textContent(), upstream.id, "and the issuing service client");
    t.equal(await externalRow.locator("[data-external-subject]").textContent(), subject, "and the external subject");
    const localRow = page.locator(`[data-user-row="${local.id}"]`);
    t.equal(await localRow.locator("[data-kind]").textContent(), "local", "a local user shows as local");
    t.equal(await localRow.locator("[data-issuer]").count(), 0, "with no issuer");

    await page.getByRole("searchbox").fill("okta|00u1");
    await page.getByRole("button", { name: "Search" }).click();
    await page.locator(`[data-user-row="${local.id}"]`).waitFor({ state: "detached" });
    t.equal(await page.locator("[data-user-row]").count(), 1, "the search matches the external subject");
    await externalRow.getByRole("link", { name: subject }).click();
    await page.getByRole("heading", { name: `User ${subject}` }).waitFor();
    t.equal(await page.locator("dl [data-issuer]").textContent(), upstream.id, "the user screen names the issuer too");
    const claims = page.getByLabel("Claims (a JSON object)");
    t.same(JSON.parse(await claims.inputValue()), {}, "no claims yet");

    const status = page.getByRole("status");
    await claims.fill("{ not json");
    await page.getByRole("button", { name: "Save claims" }).click();
    await page.locator("#status.error").waitFor();
    t.match(await status.textContent(), /must be a JSON object/, "text that is not a JSON object is refused on the page");

    const reserved = { sub: "someone-else", role: "admin" };
    const refused = await admin("PATCH", `/admin/users/${userId}`, { claims: reserved });
    t.equal(refused.statusCode, 400, "the API refuses a reserved name");
    await claims.fill(JSON.stringify(reserved));
    await page.getByRole("button", { name: "Save claims" }).click();
    await page.getByText(refused.json().error_description).waitFor();
    t.equal(await claims.getAttribute("aria-invalid"), "true", "the field is marked invalid");
    t.same((await admin("GET", `/admin/users/${userId}`)).json().claims, {}, "a refused value changes nothing");

    await claims.fill('{"role": "editor", "tenant": "acme"}');
    await page.getByRole("button", { name: "Save claims" }).click();
    await page.getByText(`Claims of ${subject} were saved.`).waitFor();
    const user = (await admin("GET", `/admin/users/${userId}`)).json();
    t.match(
      user,
      { id: userId, kind: "external", issuer: upstream.id, external_subject: subject, claims: { role: "editor", tenant: "acme" } },
      "the API has the claims the page saved",
    );
    const audit = (await admin("GET", `/admin/audit?${new URLSearchParams({ user: userId, type: "user_claims_changed" })}`)).json();
    t.match(
      audit.events,
      [{ type: "user_claims_changed", actor: `client:${ADMIN.id}`, detail: { changed: ["role", "tenant"], sessions: 1 } }],
      "audited once, with the operator and the claim names",
    );
    t.equal(await active(oldToken), false, "the token issued before the change is inactive");
    const shown = JSON.stringify(user.claims, null, 2);
    await eventually(async () => (await claims.inputValue()) === shown).catch(() => {});
    t.equal(await claims.inputValue(), shown, "the screen, drawn again, shows the saved claims");
    await mkdir(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: `${ARTIFACTS}admin-user-claims.png`, fullPage: true });
    // Chromium logs the refused PATCH's 400 as a console error; any other error is the page's.
    t.same(
      consoleErrors.filter((e) => !/status of 400/.test(e)),
      [],
      "no errors in the page's console",
    );
  },
);

import t from "tap";
import { mkdir } from "node:fs/promises";
import { testApp } from "../fixtures/app.js";
import { launchChromium, withoutChromium } from "../fixtures/chromium.js";

const ADMIN = { id: "e2e-admin", secret: "e2e-admin-secret-0123456789" };
const ARTIFACTS = new URL("../../test-artifacts/", import.meta.url).pathname;

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
    const basic = `Basic ${Buffer.from(`${ADMIN.id}:${ADMIN.secret}`).toString("base64")}`;
    const introspector = (
      await app.inject({
        method: "POST",
        url: "/admin/clients",
        headers: { authorization: basic },
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
    const browser = await launchChromium(t);
    const page = await browser.newPage();
    const consoleErrors: string[] = [];
    page.on("console", (m) => m.type() === "error" && consoleErrors.push(m.text()));

    await page.goto(`${base}/admin`);
    await page.getByLabel("Client id").fill(ADMIN.id);
    await page.getByLabel("Client secret").fill(ADMIN.secret);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByRole("heading", { name: "Users" }).waitFor();

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

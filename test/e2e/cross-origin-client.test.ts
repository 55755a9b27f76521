// SPEC §13 in Debian's Chromium: the browser module on a page of another
// origin than the service's (same site, as app.example.test and
// auth.example.test are), with cookies. The service answers CORS for the
// origins applications list and for no other.
import t from "tap";
import type { Page } from "playwright-core";
import { testApp } from "../fixtures/app.js";
import { launchChromium, withoutChromium } from "../fixtures/chromium.js";
import { browserOrigin } from "../fixtures/browser-origin.js";

interface TabWindow {
  client: {
    login(c: { username: string; password: string }): Promise<{ sid: string }>;
    refresh(): Promise<boolean>;
    logout(): Promise<void>;
    fetch(input: string, init?: { method?: string }): Promise<{ status: number; json(): Promise<{ sessions: unknown[] }> }>;
  };
  ready: boolean;
}

t.test(
  "a page on a listed origin signs in with cookies across origins; one on an unlisted origin cannot read the answer",
  { skip: withoutChromium(), timeout: 120_000 },
  async (t) => {
    const ctx = await testApp(t, "postgres");
    const port = new URL(await ctx.app.listen({ host: "127.0.0.1", port: 0 })).port;
    const service = `http://auth.example.test:${port}`;
    const pagePort = (o: { url: string }) => new URL(o.url).port;
    const listed = `http://app.example.test:${pagePort(await browserOrigin(t, service, { proxy: false }))}`;
    const unlisted = `http://evil.example.test:${pagePort(await browserOrigin(t, service, { proxy: false }))}`;
    // The page's application, served from the listed origin.
    await ctx.services.db.prisma.application.create({ data: { id: "spa", name: "SPA", transports: ["cookie"], origins: [listed] } });
    await ctx.services.applications.reload();

    const browser = await launchChromium(t, ["--host-resolver-rules=MAP *.example.test 127.0.0.1"]);
    const open = async (origin: string): Promise<Page> => {
      const page = await (await browser.newContext()).newPage();
      page.on("pageerror", (err) => t.fail(`page error: ${err.message}`));
      await page.goto(`${origin}/app/?${new URLSearchParams({ service, client: "spa" })}`);
      await page.waitForFunction(() => (globalThis as unknown as TabWindow).ready === true);
      return page;
    };
    const sessionsOf = (userId: string) => ctx.services.db.prisma.session.findMany({ where: { userId } });

    t.test("the listed origin logs in, reads its sessions, refreshes and logs out", async (t) => {
      const user = await ctx.createUser();
      const page = await open(listed);
      const { sid } = await page.evaluate((c) => (globalThis as unknown as TabWindow).client.login(c), {
        username: user.username,
        password: user.password,
      });
      t.match(
        await sessionsOf(user.id),
        [{ id: sid, transport: "cookie", clientId: "spa", revokedAt: null }],
        "a cookie session of the page's application",
      );
      t.notMatch(
        await page.evaluate(() => (globalThis as unknown as { document: { cookie: string } }).document.cookie),
        /sa_/,
        "the page cannot read the service's cookies",
      );
      const listing = await page.evaluate(async (url) => {
        const res = await (globalThis as unknown as TabWindow).client.fetch(url);
        return { status: res.status, count: (await res.json()).sessions.length };
      }, `${service}/sessions`);
      t.same(listing, { status: 200, count: 1 }, "the answer to a credentialed request is readable");
      t.equal(
        await page.evaluate(() => (globalThis as unknown as TabWindow).client.refresh()),
        true,
        "a cookie refresh with the CSRF value of the answer's body",
      );
      t.equal(await ctx.services.db.prisma.auditEvent.count({ where: { type: "refresh", sessionId: sid } }), 1, "one rotation");
      await page.evaluate(() => (globalThis as unknown as TabWindow).client.logout());
      t.not((await sessionsOf(user.id))[0]?.revokedAt, null, "the logout (an unsafe request with its Origin) ended the session");
      await page.context().close();
    });

    t.test("an unlisted origin's login never reaches the service, and its page learns nothing", async (t) => {
      const user = await ctx.createUser();
      const page = await open(unlisted);
      const outcome = await page.evaluate(
        (c) =>
          (globalThis as unknown as TabWindow).client.login(c).then(
            () => "signed in",
            (err: Error) => `${err.name}: ${err.message}`,
          ),
        { username: user.username, password: user.password },
      );
      t.match(outcome, /^TypeError: Failed to fetch/, "the browser refused the answer (no CORS headers)");
      t.same(await sessionsOf(user.id), [], "the preflight failed, so the login was never sent");
      await page.context().close();
    });
  },
);

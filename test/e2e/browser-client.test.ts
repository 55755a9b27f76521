// SPEC §13's browser module in Debian's Chromium: several tabs of one origin
// (the page and the service behind one loopback origin) against the running
// service. Refreshes are counted on the server: requests that reached it,
// and rotations in its audit log.
import t from "tap";
import { randomUUID } from "node:crypto";
import type { BrowserContext, Page } from "playwright-core";
import { testApp } from "../fixtures/app.js";
import { launchChromium, withoutChromium } from "../fixtures/chromium.js";
import { browserOrigin } from "../fixtures/browser-origin.js";
import { MINUTE, SECOND } from "../fixtures/clock.js";

interface TabWindow {
  client: {
    login(c: { username: string; password: string }): Promise<unknown>;
    logout(o?: { all?: boolean }): Promise<void>;
    session(): { sid: string } | null;
    fetch(input: string, init?: { method?: string }): Promise<{ status: number }>;
  };
  events: string[];
  ready: boolean;
}

t.test("browser client across tabs", { skip: withoutChromium(), timeout: 240_000 }, async (t) => {
  const ctx = await testApp(t, "postgres");
  const origin = await browserOrigin(t, await ctx.app.listen({ host: "127.0.0.1", port: 0 }));
  const browser = await launchChromium(t);

  const refreshRequests = () => origin.requests.filter((r) => r === "POST /refresh").length;
  const rotations = (sessionId: string) => ctx.services.db.prisma.auditEvent.count({ where: { type: "refresh", sessionId } });
  const tab = async (context: BrowserContext, transport: "cookie" | "bearer" = "cookie"): Promise<Page> => {
    const page = await context.newPage();
    page.on("pageerror", (err) => t.fail(`page error: ${err.message}`));
    await page.goto(`${origin.url}/app/?transport=${transport}`);
    await page.waitForFunction(() => (globalThis as unknown as TabWindow).ready === true);
    return page;
  };
  const loggedInTabs = async (n: number) => {
    const context = await browser.newContext();
    const user = await ctx.createUser();
    const first = await tab(context);
    await first.evaluate((c) => (globalThis as unknown as TabWindow).client.login(c).then(() => undefined), {
      username: user.username,
      password: user.password,
    });
    const tabs = [first];
    for (let i = 1; i < n; i++) tabs.push(await tab(context));
    const sid = await first.evaluate(() => (globalThis as unknown as TabWindow).client.session()!.sid);
    for (const p of tabs)
      t.equal(await p.evaluate(() => (globalThis as unknown as TabWindow).client.session()?.sid), sid, "every tab shares the session");
    return { context, tabs, sid, user };
  };
  const statuses = (page: Page, n: number, method = "GET", path = "/sessions") =>
    page.evaluate(
      ({ n, method, path }) =>
        Promise.all(
          Array.from({ length: n }, () => (globalThis as unknown as TabWindow).client.fetch(path, { method }).then((r) => r.status)),
        ),
      { n, method, path },
    );
  const events = (page: Page) => page.evaluate(() => (globalThis as unknown as TabWindow).events);

  t.test("tabs whose access tokens expired together cause exactly one refresh, and all their requests succeed", async (t) => {
    const { context, tabs, sid } = await loggedInTabs(4);
    for (let round = 1; round <= 3; round++) {
      const before = refreshRequests();
      ctx.clock.advance(10 * MINUTE + SECOND); // every tab's access token has expired on the service
      const all = await Promise.all(tabs.map((p) => statuses(p, 3)));
      t.same(all.flat(), Array(12).fill(200), `round ${round}: every request of every tab succeeds`);
      t.equal(refreshRequests() - before, 1, `round ${round}: one refresh reached the service`);
      t.equal(await rotations(sid), round, `round ${round}: one rotation in the audit log`);
    }
    await context.close();
  });

  t.test("tabs refresh ahead of expiry, once for all, before any request is refused", async (t) => {
    const context = await browser.newContext();
    await context.clock.install(); // the pages' clock; the service's stays where it is, so its tokens stay valid
    const user = await ctx.createUser();
    const tabs = [await tab(context), await tab(context), await tab(context)];
    await tabs[0]!.evaluate((c) => (globalThis as unknown as TabWindow).client.login(c).then(() => undefined), {
      username: user.username,
      password: user.password,
    });
    for (const p of tabs) await p.waitForFunction(() => (globalThis as unknown as TabWindow).client.session() !== null);
    const sid = await tabs[0]!.evaluate(() => (globalThis as unknown as TabWindow).client.session()!.sid);
    const sessionsCalls = () => origin.requests.filter((r) => r === "GET /sessions").length;

    const [refreshesBefore, callsBefore] = [refreshRequests(), sessionsCalls()];
    await context.clock.fastForward("08:00"); // 8 of the token's 10 minutes: not yet due (a minute ahead)
    t.same((await Promise.all(tabs.map((p) => statuses(p, 2)))).flat(), Array(6).fill(200));
    t.equal(refreshRequests() - refreshesBefore, 0, "no refresh before it is due");

    await context.clock.fastForward("01:30"); // 9.5 minutes: inside the last minute
    t.same((await Promise.all(tabs.map((p) => statuses(p, 2)))).flat(), Array(6).fill(200), "every request succeeds");
    t.equal(refreshRequests() - refreshesBefore, 1, "one refresh, ahead of expiry, for every tab");
    t.equal(sessionsCalls() - callsBefore, 12, "and no request was refused and sent again");
    t.equal(await rotations(sid), 1);
    await context.close();
  });

  t.test("a logout in one tab signs every tab out", async (t) => {
    const { context, tabs } = await loggedInTabs(3);
    await tabs[0]!.evaluate(() => (globalThis as unknown as TabWindow).client.logout());
    for (const p of tabs) {
      await p.waitForFunction(() => (globalThis as unknown as TabWindow).client.session() === null);
      t.same(
        (await events(p)).filter((e) => e === "signed-out"),
        ["signed-out"],
        "one signed-out event in each tab",
      );
    }
    const before = refreshRequests();
    t.same(await statuses(tabs[1]!, 2), [401, 401], "a signed-out tab's requests are not authenticated");
    t.equal(refreshRequests(), before, "and try no refresh");
    await context.close();
  });

  t.test("a refresh whose response was lost is retried and converges on the same session", async (t) => {
    const { context, tabs, sid } = await loggedInTabs(2);
    let dropped = 0;
    await tabs[0]!.route("**/refresh", async (route) => {
      if (dropped++ > 0) return route.continue();
      // The service rotates (sent from here, so no cookie of the answer reaches the browser)…
      const request = route.request();
      await fetch(request.url(), { method: "POST", headers: await request.allHeaders(), body: request.postData() ?? "" });
      await route.abort("connectionreset"); // …and the page never hears of it
    });
    const before = refreshRequests();
    ctx.clock.advance(10 * MINUTE + SECOND);
    // An unsafe request (CSRF header and all) that changes nothing: someone else's session is 404 once authenticated.
    t.same(
      await statuses(tabs[0]!, 2, "DELETE", `/sessions/${randomUUID()}`),
      [404, 404],
      "the requests went through after the retried refresh",
    );
    t.equal(dropped, 2, "the lost refresh was retried");
    t.equal(refreshRequests() - before, 2, "both reached the service");
    t.equal(await rotations(sid), 1, "the retry got the successor of the first rotation (grace window), not a second one");
    const session = await ctx.services.sessionStore.findSession(sid);
    t.equal(session?.revokedAt, null, "no reuse was detected: the session lives");
    t.same(await statuses(tabs[1]!, 2), [200, 200], "the other tab took the result");
    await context.close();
  });

  t.test("a refresh that fails for good ends in one signed-out event per tab, not a loop", async (t) => {
    const { context, tabs, sid, user } = await loggedInTabs(3);
    await ctx.services.revocations.revokeSession(sid, "admin", "test", user.id);
    const before = refreshRequests();
    const all = await Promise.all(tabs.map((p) => statuses(p, 2)));
    t.same(all.flat(), Array(6).fill(401), "the revoked session's requests are refused");
    for (const p of tabs) {
      await p.waitForFunction(() => (globalThis as unknown as TabWindow).client.session() === null);
      t.same(
        (await events(p)).filter((e) => e === "signed-out"),
        ["signed-out"],
        "one signed-out event",
      );
      t.equal((await events(p)).at(-1), "signed-out", "and it is the last one");
    }
    t.equal(refreshRequests() - before, 1, "one refresh was tried, in one tab");
    for (const p of tabs) await statuses(p, 3);
    t.equal(refreshRequests() - before, 1, "and no more after it, whatever the tabs ask");
    await context.close();
  });

  t.test("bearer mode: tokens stay in memory, a new tab gets them from an open one, and expired tabs refresh once", async (t) => {
    const context = await browser.newContext();
    const user = await ctx.createUser();
    const first = await tab(context, "bearer");
    await first.evaluate((c) => (globalThis as unknown as TabWindow).client.login(c).then(() => undefined), {
      username: user.username,
      password: user.password,
    });
    const tabs = [first, await tab(context, "bearer"), await tab(context, "bearer")];
    for (const p of tabs) await p.waitForFunction(() => (globalThis as unknown as TabWindow).client.session() !== null);
    const claims = await tabs[2]!.evaluate(
      () => (globalThis as unknown as TabWindow).client.session() as unknown as { sub: string; sid: string; trn: string },
    );
    t.match(claims, { sub: user.id, trn: "bearer" }, "a tab opened later has the access token's claims, from a tab that had them");
    const stored = await first.evaluate(() =>
      JSON.stringify((globalThis as unknown as { localStorage: { [k: string]: string } }).localStorage),
    );
    t.notMatch(stored, /eyJ|refresh_token|"accessToken"|"refreshToken"/, "no token in localStorage");
    for (let round = 1; round <= 2; round++) {
      const before = refreshRequests();
      ctx.clock.advance(10 * MINUTE + SECOND);
      t.same((await Promise.all(tabs.map((p) => statuses(p, 2)))).flat(), Array(6).fill(200), `round ${round}: every request succeeds`);
      t.equal(refreshRequests() - before, 1, `round ${round}: one refresh`);
    }
    t.equal(await rotations(claims.sid), 2);
    await context.close();
  });

  t.test("without Web Locks, the fallback still lets one tab refresh for all", async (t) => {
    const context = await browser.newContext();
    await context.addInitScript(() => {
      delete (globalThis as unknown as { Navigator: { prototype: { locks?: unknown } } }).Navigator.prototype.locks;
    });
    const user = await ctx.createUser();
    const tabs = [await tab(context), await tab(context), await tab(context)];
    t.equal(
      await tabs[0]!.evaluate(() => "locks" in (globalThis as unknown as { navigator: object }).navigator),
      false,
      "no Web Locks in these tabs",
    );
    await tabs[0]!.evaluate((c) => (globalThis as unknown as TabWindow).client.login(c).then(() => undefined), {
      username: user.username,
      password: user.password,
    });
    for (const p of tabs) await p.waitForFunction(() => (globalThis as unknown as TabWindow).client.session() !== null);
    const sid = await tabs[0]!.evaluate(() => (globalThis as unknown as TabWindow).client.session()!.sid);
    for (let round = 1; round <= 3; round++) {
      const before = refreshRequests();
      ctx.clock.advance(10 * MINUTE + SECOND);
      const all = await Promise.all(tabs.map((p) => statuses(p, 2)));
      t.same(all.flat(), Array(6).fill(200), `round ${round}: every request succeeds`);
      t.equal(refreshRequests() - before, 1, `round ${round}: one refresh`);
    }
    t.equal(await rotations(sid), 3);
    await context.close();
  });
});

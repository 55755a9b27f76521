// SPEC §12: when the service cannot decide (Postgres unreachable and no
// trusted mirror: here no Redis, so every answer about a valid token needs
// Postgres), /forward-auth is 503 with Retry-After, never 200 and never a
// bare 500; what needs no database (no token, a forged one) is still 401.
import t from "tap";
import { testApp } from "../fixtures/app.js";
import { freshPostgres, postgresAdminUrl } from "../fixtures/database.js";
import { eventually } from "../fixtures/eventually.js";
import { faultProxy } from "../fixtures/fault-proxy.js";
import { isDocumented503 } from "../fixtures/fault-support.js";

t.test(
  "Postgres refused and no mirror to trust: forward-auth fails closed with 503 and recovers by itself",
  { timeout: 120_000 },
  async (t) => {
    const { url } = await freshPostgres(t);
    const target = new URL(postgresAdminUrl());
    const proxy = await faultProxy(t, { host: target.hostname, port: Number(target.port || 5432) });
    const { app, createUser, login } = await testApp(t, "postgres", { storage: { url: proxy.url(url) } });
    const user = await createUser();
    const token = (await login(user.username, user.password)).json().access_token as string;
    const ask = (headers: Record<string, string>) => app.inject({ method: "GET", url: "/forward-auth", headers });
    t.equal((await ask({ authorization: `Bearer ${token}` })).statusCode, 200, "live before the outage");

    await proxy.refuse();
    for (let i = 0; i < 3; i++) {
      const res = await ask({ authorization: `Bearer ${token}` });
      t.ok(isDocumented503(res), `round ${i}: 503 unavailable with Retry-After (${res.statusCode} ${res.headers["retry-after"]})`);
      t.equal(res.headers["x-auth-subject"], undefined, "names no one");
    }
    t.equal((await ask({})).statusCode, 401, "no token needs no database: 401");
    t.equal((await ask({ authorization: `Bearer ${token.slice(0, -4)}AAAA` })).statusCode, 401, "a forged token needs no database: 401");

    await proxy.heal();
    t.ok(
      await eventually(async () => ((await ask({ authorization: `Bearer ${token}` })).statusCode === 200 ? true : null), 30_000),
      "200 again once Postgres is back",
    );
  },
);

import t from "tap";
import { customClaimsOf } from "../../src/domain/claims.js";
import { ForwardAuth, identityOf, isUnsafe } from "../../src/domain/forward-auth.js";
import type { AccessTokenClaims } from "../../src/domain/ports.js";

const base: AccessTokenClaims = { iss: "i", sub: "u1", aud: "a", iat: 1, exp: 2, jti: "j", sid: "s1", trn: "cookie" };

t.test("the identity names the token's application, and the default one when it names none", async (t) => {
  t.equal(identityOf(base).client, "default");
  t.equal(identityOf({ ...base, client_id: "web-spa" }).client, "web-spa");
  t.same(identityOf(base), { subject: "u1", session: "s1", client: "default", expires: 2, claims: null });
});

t.test("custom claims are what the token carries beyond the registered names (SPEC §11)", async (t) => {
  const registered = { nbf: 0, client_id: "x", auth_time: 1, amr: ["pwd"], acr: "1", cnf: {}, scope: "s" };
  t.equal(customClaimsOf({ ...base, ...registered }), null, "registered names are never custom");
  t.same(customClaimsOf({ ...base, ...registered, roles: ["admin"], tenant: "t1" }), { roles: ["admin"], tenant: "t1" });
});

t.test("a request is unsafe when any method it names is not GET, HEAD or OPTIONS", async (t) => {
  t.equal(isUnsafe(["GET", undefined, undefined]), false);
  t.equal(isUnsafe(["HEAD", "options", "get"]), false);
  t.equal(isUnsafe(["GET", "POST", undefined]), true);
  t.equal(isUnsafe(["GET", undefined, "propfind"]), true);
});

t.test("a cookie session's unsafe request is asked for the CSRF check; a bearer session's never", async (t) => {
  const asked: string[] = [];
  const fa = (claims: AccessTokenClaims | null) => new ForwardAuth({ liveAccessClaims: async () => claims });
  const q = (via: "header" | "cookie", unsafe: boolean, pass: boolean) => ({
    token: { value: "t", via },
    unsafe,
    csrfPassed: () => (asked.push(via), pass),
  });
  t.equal((await fa(base).decide(q("cookie", true, false))).outcome, "forbidden");
  t.equal((await fa(base).decide(q("cookie", true, true))).outcome, "allow");
  t.equal((await fa(base).decide(q("cookie", false, false))).outcome, "allow");
  t.equal((await fa({ ...base, trn: "bearer" }).decide(q("header", true, false))).outcome, "allow");
  t.same(asked, ["cookie", "cookie"]);
  t.equal((await fa(base).decide(q("header", false, true))).outcome, "invalid_token", "transport binding");
  t.equal((await fa(null).decide(q("cookie", false, true))).outcome, "invalid_token");
  t.equal((await fa(base).decide({ token: null, unsafe: false, csrfPassed: () => true })).outcome, "no_token");
});

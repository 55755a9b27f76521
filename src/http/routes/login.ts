import { Type } from "typebox";
import type { Services } from "../../services.js";
import { normalizeUsername } from "../../domain/usernames.js";
import { attemptKey } from "../../rate-limit/attempt-limiter.js";
import { withBackoff } from "../backoff.js";
import { clientContext } from "../client-context.js";
import { cookieOriginCheck } from "../cookie-origin.js";
import { setSessionCookies } from "../cookies.js";
import { requestedApplication } from "../application-param.js";
import { ApplicationIdField, errorResponses, TokenResponse, TransportField } from "../schemas.js";
import { tokenBody } from "../token-body.js";
import type { App } from "../types.js";

const LoginBody = Type.Object(
  {
    username: Type.String({ minLength: 1, maxLength: 128 }),
    // Bounded: argon2 on a megabyte password is a denial of service.
    password: Type.String({ minLength: 1, maxLength: 1024 }),
    transport: Type.Optional(TransportField),
    /** SPEC §10: the application the session belongs to; `default` when absent. */
    client_id: Type.Optional(ApplicationIdField),
  },
  { additionalProperties: false },
);

/** POST /login (SPEC §5): password login, bearer by default. */
export function registerLogin(app: App, services: Services): void {
  const originCheck = cookieOriginCheck(services.applications, services.config.tokens.issuer);
  app.post("/login", { schema: { body: LoginBody, response: { 200: TokenResponse, ...errorResponses } } }, async (request, reply) => {
    const { username, password, transport = "bearer", client_id } = request.body;
    const clientId = await requestedApplication(services.applications, client_id, transport);
    // SPEC §13: a cookie login from a page is one of its application's, before anything is checked or written.
    if (transport === "cookie") await originCheck(request, clientId);
    const ctx = clientContext(request);
    const name = normalizeUsername(username).slice(0, 128);
    // The account's own count blocks only addresses that failed on it: a
    // guesser spread over many addresses is slowed, its owner from an
    // address that has not failed is not (README, Security).
    const account = attemptKey.loginUser(name);
    const pair = attemptKey.loginUserIp(name, request.ip);
    const keys = { keys: [pair, attemptKey.loginIp(request.ip)], gated: [{ key: account, gate: pair }], resetOnSuccess: [account, pair] };
    const tokens = await withBackoff(services, "login", keys, ctx, () =>
      services.sessions.login(username, password, transport, ctx, clientId),
    );
    void reply.header("cache-control", "no-store");
    const csrf = transport === "cookie" ? setSessionCookies(reply, tokens, services.config.cookies) : undefined;
    return tokenBody(tokens, csrf);
  });
}

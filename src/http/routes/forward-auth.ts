import type { FastifyReply, FastifyRequest } from "fastify";
import { isUnsafe, type ForwardAuth, type ForwardAuthAnswer, type ForwardIdentity } from "../../domain/forward-auth.js";
import { csrfMatches, type CookieSettings } from "../cookies.js";
import { originAllowed } from "../original-origin.js";
import { presentedAccessToken } from "../presented-token.js";
import type { App } from "../types.js";

type Outcome = ForwardAuthAnswer["outcome"];

const header = (request: FastifyRequest, name: string): string | undefined => {
  const v = request.headers[name];
  return typeof v === "string" ? v : undefined;
};

/**
 * GET /forward-auth, every method (SPEC §12): nginx auth_request, Traefik
 * forwardAuth, Caddy forward_auth, Envoy ext_authz (HTTP). 200 with the
 * identity headers, or 401/403 with no detail. Registered in a scope of its
 * own whose only body parser discards the body: gateways forward the
 * original request's Content-Type without its body, and that is no error.
 */
export function registerForwardAuth(
  app: App,
  deps: {
    forwardAuth: ForwardAuth;
    cookies: CookieSettings;
    /** The in-memory applications (synchronous: this is a hot path). */
    applications: { get(id: string): { origins: readonly string[] } | undefined };
    onAnswer: (outcome: Outcome) => void;
  },
): void {
  const { forwardAuth, cookies, applications, onAnswer } = deps;
  void app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser("*", (_request, payload, done) => {
      payload.resume();
      payload.once("end", () => done(null, undefined));
      payload.once("error", (err) => done(err, undefined));
    });
    const handler = async (request: FastifyRequest, reply: FastifyReply) => {
      void reply.header("cache-control", "no-store");
      const token = presentedAccessToken(request, cookies);
      if (token === "malformed") {
        onAnswer("invalid_token");
        return unauthorized(reply, "invalid_token");
      }
      const answer = await forwardAuth.decide({
        token,
        unsafe: isUnsafe([request.method, header(request, "x-forwarded-method"), header(request, "x-original-method")]),
        csrfPassed: (clientId) => csrfMatches(request, cookies) && originAllowed(request, applications.get(clientId)?.origins ?? []),
      });
      onAnswer(answer.outcome);
      switch (answer.outcome) {
        case "allow":
          return allow(reply, answer.identity);
        case "no_token":
          return unauthorized(reply, "no_token");
        case "invalid_token":
          return unauthorized(reply, "invalid_token");
        case "forbidden":
          return reply.status(403).send({ error: "forbidden", error_description: "the CSRF header or the Origin is missing or wrong" });
      }
    };
    scope.all("/forward-auth", handler);
    // Envoy's ext_authz prefixes the original path with its path_prefix.
    scope.all("/forward-auth/*", handler);
  });
}

function allow(reply: FastifyReply, id: ForwardIdentity): FastifyReply {
  void reply.headers({
    "x-auth-subject": id.subject,
    "x-auth-session": id.session,
    "x-auth-client": id.client,
    "x-auth-expires": String(id.expires),
  });
  if (id.claims) void reply.header("x-auth-claims", Buffer.from(JSON.stringify(id.claims), "utf8").toString("base64url"));
  return reply.status(200).send();
}

/** RFC 6750 §3: no token is a bare challenge; a bad one names `invalid_token` and nothing more. */
function unauthorized(reply: FastifyReply, why: "no_token" | "invalid_token"): FastifyReply {
  void reply.header("www-authenticate", why === "no_token" ? "Bearer" : 'Bearer error="invalid_token"');
  return reply.status(401).send();
}

import { Type } from "typebox";
import type { Services } from "../../services.js";
import { accessTokenGuard } from "../authenticate.js";
import { cookieOriginCheck } from "../cookie-origin.js";
import { clearSessionCookies } from "../cookies.js";
import { errorResponses } from "../schemas.js";
import type { App } from "../types.js";

const LogoutBody = Type.Object({ all: Type.Optional(Type.Boolean()) }, { additionalProperties: false });

/** POST /logout (SPEC §5): ends the caller's session, or with `{ all: true }` every session of the user. */
export function registerLogout(app: App, services: Services): void {
  app.post(
    "/logout",
    {
      schema: { body: LogoutBody, response: { 204: Type.Null(), ...errorResponses } },
      preHandler: accessTokenGuard(
        services.auth,
        services.config.cookies,
        cookieOriginCheck(services.applications, services.config.tokens.issuer),
      ),
    },
    async (request, reply) => {
      const { claims, session } = request.auth!;
      const actor = `user:${claims.sub}`;
      if (request.body.all === true) {
        await services.revocations.revokeUser(claims.sub, "logout_all", actor);
      } else {
        await services.revocations.revokeSession(session.id, "logout", actor, claims.sub);
      }
      if (session.transport === "cookie") clearSessionCookies(reply, services.config.cookies);
      return reply.status(204).send(null);
    },
  );
}

import { Type } from "typebox";
import { invalidRequest } from "../../domain/errors.js";
import type { SessionRecord } from "../../domain/types.js";
import type { Services } from "../../services.js";
import { accessTokenGuard } from "../authenticate.js";
import { cookieOriginCheck } from "../cookie-origin.js";
import { errorResponses, SessionView } from "../schemas.js";
import type { App } from "../types.js";

export function sessionView(s: SessionRecord, currentId?: string) {
  return {
    id: s.id,
    client_id: s.clientId,
    transport: s.transport,
    created_at: s.createdAt.toISOString(),
    last_seen_at: s.lastSeenAt.toISOString(),
    idle_expires_at: s.idleExpiresAt.toISOString(),
    absolute_expires_at: s.absoluteExpiresAt.toISOString(),
    created_ip: s.createdIp,
    last_ip: s.lastIp,
    user_agent: s.userAgent,
    device: s.device,
    device_flagged: s.deviceFlagged,
    device_score: s.deviceScore,
    current: s.id === currentId,
  };
}

const SessionId = Type.String({ format: "uuid" });

/** The caller's own sessions (SPEC §5): list, end one, end all others. */
export function registerSessions(app: App, services: Services): void {
  const guard = accessTokenGuard(
    services.auth,
    services.config.cookies,
    cookieOriginCheck(services.applications, services.config.tokens.issuer),
  );

  app.get(
    "/sessions",
    { schema: { response: { 200: Type.Object({ sessions: Type.Array(SessionView) }), ...errorResponses } }, preHandler: guard },
    async (request) => {
      const { claims } = request.auth!;
      const live = await services.sessionStore.listLiveSessions(claims.sub, services.clock.now());
      return { sessions: live.map((s) => sessionView(s, claims.sid)) };
    },
  );

  app.delete(
    "/sessions/:id",
    { schema: { params: Type.Object({ id: SessionId }), response: { 204: Type.Null(), ...errorResponses } }, preHandler: guard },
    async (request, reply) => {
      const { claims } = request.auth!;
      await services.revocations.revokeSession(request.params.id, "user_revoked", `user:${claims.sub}`, claims.sub);
      return reply.status(204).send(null);
    },
  );

  app.delete(
    "/sessions",
    {
      schema: {
        querystring: Type.Object({ except: Type.Optional(Type.String({ maxLength: 32 })) }),
        response: { 204: Type.Null(), ...errorResponses },
      },
      preHandler: guard,
    },
    async (request, reply) => {
      if (request.query.except !== "current") {
        throw invalidRequest('use DELETE /sessions?except=current (or POST /logout with {"all":true} to end every session)');
      }
      const { claims } = request.auth!;
      await services.revocations.revokeOtherSessions(claims.sub, claims.sid, "user_revoked", `user:${claims.sub}`);
      return reply.status(204).send(null);
    },
  );
}

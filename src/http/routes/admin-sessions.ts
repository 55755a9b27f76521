import { Type } from "typebox";
import { clientGuard } from "../../clients/client-auth.js";
import type { Services } from "../../services.js";
import { errorResponses } from "../schemas.js";
import type { App } from "../types.js";
import { adminSessionView, auditView, refreshView } from "./admin-views.js";

const SessionId = Type.Object({ id: Type.String({ format: "uuid" }) });
const Timestamp = Type.String({ format: "date-time", maxLength: 40 });

/** Admin API: one session, revocation, and the audit log (SPEC §5, §6). */
export function registerAdminSessions(app: App, services: Services): void {
  const guard = clientGuard(services, "admin");

  app.get("/admin/sessions/:id", { preValidation: guard, schema: { params: SessionId } }, async (request) => {
    const { session, refreshHistory } = await services.admin.session(request.params.id);
    return { session: adminSessionView(session), refresh_history: refreshHistory.map(refreshView) };
  });

  app.delete(
    "/admin/sessions/:id",
    { preValidation: guard, schema: { params: SessionId, response: { 204: Type.Null(), ...errorResponses } } },
    async (request, reply) => {
      await services.revocations.revokeSession(request.params.id, "admin", `client:${request.client!.id}`);
      return reply.status(204).send(null);
    },
  );

  app.get(
    "/admin/audit",
    {
      preValidation: guard,
      schema: {
        querystring: Type.Object({
          user: Type.Optional(Type.String({ format: "uuid" })),
          session: Type.Optional(Type.String({ format: "uuid" })),
          type: Type.Optional(Type.String({ maxLength: 48 })),
          from: Type.Optional(Timestamp),
          to: Type.Optional(Timestamp),
          cursor: Type.Optional(Type.String({ pattern: "^[0-9]{1,19}$" })),
          limit: Type.Optional(Type.String({ pattern: "^[0-9]{1,3}$" })),
        }),
      },
    },
    async (request) => {
      const q = request.query;
      const limit = Math.min(500, Math.max(1, Number(q.limit ?? 100)));
      await services.auditChain.catchUp(); // serve every event committed before this call, linked
      const events = await services.admin.audit({
        userId: q.user,
        sessionId: q.session,
        type: q.type,
        from: q.from ? new Date(q.from) : undefined,
        to: q.to ? new Date(q.to) : undefined,
        before: q.cursor ? BigInt(q.cursor) : undefined,
        limit,
      });
      return { events: events.map(auditView), next_cursor: events.length === limit ? events.at(-1)!.seq!.toString() : null };
    },
  );
}

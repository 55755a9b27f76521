import { Type } from "typebox";
import { clientGuard } from "../../clients/client-auth.js";
import type { UserCursor } from "../../domain/admin-ports.js";
import { invalidRequest } from "../../domain/errors.js";
import type { Services } from "../../services.js";
import { errorResponses } from "../schemas.js";
import type { App } from "../types.js";
import { adminSessionView, userView } from "./admin-views.js";

const UserId = Type.Object({ id: Type.String({ format: "uuid" }) });

/** The search cursor: opaque to clients, the last user's username and id. */
const encodeUserCursor = (u: { username: string; id: string }) => Buffer.from(JSON.stringify([u.username, u.id])).toString("base64url");

function decodeUserCursor(cursor: string): UserCursor {
  try {
    const [username, id] = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8")) as unknown[];
    if (typeof username === "string" && typeof id === "string" && /^[0-9a-f-]{36}$/i.test(id)) return { username, id };
  } catch {
    // falls through to the 400
  }
  throw invalidRequest("malformed cursor");
}

/** Admin API: users and their sessions (SPEC §5, scope `admin`). */
export function registerAdminUsers(app: App, services: Services): void {
  const guard = clientGuard(services, "admin");
  const actor = (req: { client?: { id: string } }) => `client:${req.client!.id}`;

  app.post(
    "/admin/users",
    {
      preValidation: guard,
      schema: {
        body: Type.Object(
          { username: Type.String({ minLength: 1, maxLength: 128 }), password: Type.String({ minLength: 1, maxLength: 1024 }) },
          { additionalProperties: false },
        ),
        response: { 201: Type.Object({ id: Type.String(), username: Type.String() }), ...errorResponses },
      },
    },
    async (request, reply) => {
      const user = await services.userService.create(request.body.username, request.body.password, actor(request));
      return reply.status(201).send({ id: user.id, username: user.username });
    },
  );

  app.get(
    "/admin/users",
    {
      preValidation: guard,
      schema: {
        querystring: Type.Object({
          q: Type.Optional(Type.String({ maxLength: 128 })),
          cursor: Type.Optional(Type.String({ maxLength: 512 })),
          limit: Type.Optional(Type.String({ pattern: "^[0-9]{1,3}$" })),
        }),
      },
    },
    async (request) => {
      const limit = Math.min(200, Math.max(1, Number(request.query.limit ?? 50)));
      const after = request.query.cursor ? decodeUserCursor(request.query.cursor) : undefined;
      const users = await services.admin.searchUsers(request.query.q || undefined, limit, after);
      return { users: users.map(userView), next_cursor: users.length === limit ? encodeUserCursor(users.at(-1)!) : null };
    },
  );

  app.get("/admin/users/:id", { preValidation: guard, schema: { params: UserId } }, async (request) =>
    userView(await services.admin.user(request.params.id)),
  );

  app.patch(
    "/admin/users/:id",
    {
      preValidation: guard,
      schema: {
        params: UserId,
        body: Type.Object(
          {
            disabled: Type.Optional(Type.Boolean()),
            password: Type.Optional(Type.String({ minLength: 1, maxLength: 1024 })),
            // SPEC §11: replaces the user's custom claims; the domain checks names and size.
            claims: Type.Optional(Type.Object({}, { additionalProperties: true, maxProperties: 256 })),
          },
          { additionalProperties: false },
        ),
        response: { 204: Type.Null(), ...errorResponses },
      },
    },
    async (request, reply) => {
      await services.admin.patchUser(request.params.id, request.body, actor(request));
      return reply.status(204).send(null);
    },
  );

  app.get(
    "/admin/users/:id/sessions",
    {
      preValidation: guard,
      schema: {
        params: UserId,
        querystring: Type.Object({ include_ended: Type.Optional(Type.Union([Type.Literal("true"), Type.Literal("false")])) }),
      },
    },
    async (request) => {
      const sessions = await services.admin.userSessions(request.params.id, request.query.include_ended === "true");
      return { sessions: sessions.map(adminSessionView) };
    },
  );

  app.delete(
    "/admin/users/:id/sessions",
    { preValidation: guard, schema: { params: UserId, response: { 204: Type.Null(), ...errorResponses } } },
    async (request, reply) => {
      await services.revocations.revokeUser(request.params.id, "admin", actor(request));
      return reply.status(204).send(null);
    },
  );
}

import { Type } from "typebox";
import { clientGuard } from "../../clients/client-auth.js";
import type { Services } from "../../services.js";
import type { App } from "../types.js";

const iso = (d: Date | null) => d?.toISOString() ?? null;

/** Admin API: signing keys with their state, and rotation on demand (SPEC §2, §5). */
export function registerAdminKeys(app: App, services: Services): void {
  const guard = clientGuard(services, "admin");

  app.get("/admin/keys", { preValidation: guard }, async () => {
    await services.keys.reload();
    return {
      keys: services.keys.list().map((k) => ({
        kid: k.kid,
        alg: k.alg,
        state: k.state,
        created_at: iso(k.createdAt),
        activates_at: iso(k.activatesAt),
        retired_at: iso(k.retiredAt),
        expires_at: iso(k.expiresAt),
      })),
    };
  });

  // SPEC §14 key compromise: out of the JWKS, its tokens inactive everywhere, a new key signing now.
  app.post(
    "/admin/keys/:kid/revoke",
    {
      preValidation: guard,
      schema: { params: Type.Object({ kid: Type.String({ minLength: 1, maxLength: 64, pattern: "^[A-Za-z0-9_-]+$" }) }) },
    },
    async (request) => {
      const r = await services.keyRevocation.revoke(request.params.kid, `client:${request.client!.id}`);
      return { kid: r.kid, revoked: true, signing_kid: services.keys.signingKey().kid, replacement_kid: r.replacementKid };
    },
  );

  // Publish first, sign later: the new key signs only after KEY_PREPUBLISH,
  // and asking twice returns the same pending key.
  app.post("/admin/keys/rotate", { preValidation: guard }, async (request, reply) => {
    const key = await services.keys.rotate();
    await services.auditLog.record(
      { type: "key_rotated", actor: `client:${request.client!.id}`, detail: { kid: key.kid, activates_at: key.activatesAt.toISOString() } },
      services.clock.now(),
    );
    return reply.status(202).send({ kid: key.kid, alg: key.alg, activates_at: key.activatesAt.toISOString() });
  });
}

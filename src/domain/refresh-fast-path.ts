import { hashToken, newOpaqueToken } from "../crypto/opaque-token.js";
import type { FastRotationWrite } from "./ports.js";
import type { SlidingLifetimes } from "./session-policy.js";
import { sealSuccessor } from "./successor.js";
import type { ClientContext, DeviceInfo, Transport } from "./types.js";

/** The ordinary rotation, ready for the one statement that decides and writes it. */
export interface FastRotation {
  write: FastRotationWrite;
  /** The successor refresh token, handed to the client once the statement committed. */
  successor: string;
}

/**
 * The fast path of a refresh. Almost every refresh is the ordinary one: the
 * first use of a live, unexpired token of a live session, over the
 * session's transport, from a device that shows no change. That case needs
 * no read and no transaction: SessionStore.rotateFast states those rules
 * (storage/sessions/fast-path-sql.ts lists them, each beside its SQL) as the
 * conditions of one statement, which rotates or writes nothing. Everything
 * else goes to the locked path (refresh-locked-path.ts), which records,
 * flags or revokes under the session's lock.
 *
 * The successor is made before the statement knows whether it will be used:
 * it costs a random draw and a seal, and it is dropped if nothing rotated.
 */
export function planFastRotation(
  presented: string,
  transport: Transport,
  ctx: ClientContext,
  device: DeviceInfo,
  now: Date,
  /** The service-wide lifetimes, for a session that carries none of its own (sessionLifetimes). */
  defaults: SlidingLifetimes,
): FastRotation {
  const successor = newOpaqueToken();
  return {
    successor,
    write: {
      now,
      tokenHash: hashToken(presented),
      transport,
      ip: ctx.ip,
      userAgent: ctx.userAgent,
      device,
      defaults: { accessTokenTtlMs: defaults.accessTokenTtlMs, refreshTokenTtlMs: defaults.refreshTokenTtlMs },
      successorSealed: sealSuccessor(presented, successor),
      successor: { id: crypto.randomUUID(), hash: hashToken(successor) },
    },
  };
}

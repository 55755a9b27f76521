import type { AuditLog, SessionStore, SessionTx } from "../domain/ports.js";
import type { AuditEventInput } from "../domain/types.js";

/**
 * Decorates the stores so every audit event is also handed to `onEvent`,
 * but only once its transaction has committed: a rolled-back decision is
 * never counted.
 */
export function tapSessionStore(store: SessionStore, onEvent: (e: AuditEventInput) => void): SessionStore {
  return {
    ...store,
    async transaction(work) {
      const seen: AuditEventInput[] = [];
      const result = await store.transaction((tx) => {
        const tapped: SessionTx = {
          ...tx,
          audit: async (event, at) => {
            await tx.audit(event, at);
            seen.push(event);
          },
        };
        return work(tapped);
      });
      for (const e of seen) onEvent(e);
      return result;
    },
  };
}

export function tapAuditLog(log: AuditLog, onEvent: (e: AuditEventInput) => void): AuditLog {
  return {
    async record(event, at) {
      await log.record(event, at);
      onEvent(event);
    },
  };
}

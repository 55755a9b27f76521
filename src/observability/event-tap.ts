import type { AuditLog, SessionStore, SessionTx } from "../domain/ports.js";
import type { AuditEventInput } from "../domain/types.js";

/** What writes audit rows in a transaction. */
interface AuditWriter {
  audit(event: AuditEventInput, at: Date): Promise<unknown>;
  auditMany(events: readonly AuditEventInput[], at: Date): Promise<unknown>;
}

/** `tx` with every audit event it writes also pushed to `seen`, to be reported once the transaction committed. */
export function tappedAudits<T extends AuditWriter>(tx: T, seen: AuditEventInput[]): T {
  return {
    ...tx,
    audit: async (event: AuditEventInput, at: Date) => {
      const r = await tx.audit(event, at);
      seen.push(event);
      return r;
    },
    auditMany: async (events: readonly AuditEventInput[], at: Date) => {
      const r = await tx.auditMany(events, at);
      seen.push(...events);
      return r;
    },
  };
}

/**
 * Decorates the stores so every audit event is also handed to `onEvent`,
 * but only once its transaction has committed: a rolled-back decision is
 * never counted. Store methods that write an audit row themselves (the
 * one-statement rotation, the short issuance transaction) report it once
 * they returned, that is once it committed, and only if they wrote it.
 */
export function tapSessionStore(store: SessionStore, onEvent: (e: AuditEventInput) => void): SessionStore {
  return {
    ...store,
    async transaction(work) {
      const seen: AuditEventInput[] = [];
      const result = await store.transaction((tx) => {
        const tapped: SessionTx = {
          ...tappedAudits(tx, seen),
          insertSessionUnderCap: async (input) => {
            const inserted = await tx.insertSessionUnderCap(input);
            if (inserted) seen.push(input.audit);
            return inserted;
          },
        };
        return work(tapped);
      });
      for (const e of seen) onEvent(e);
      return result;
    },
    async issueSession(subject, clientId, plan) {
      const attempt = await store.issueSession(subject, clientId, plan);
      if (attempt.inserted && attempt.write) onEvent(attempt.write.audit);
      return attempt;
    },
    async rotateFast(write) {
      // One autocommit statement: once it answers, it has committed.
      const outcome = await store.rotateFast(write);
      if (outcome) onEvent(outcome.audit);
      return outcome;
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

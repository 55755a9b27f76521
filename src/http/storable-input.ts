import type { FastifyReply, FastifyRequest, HookHandlerDoneFunction } from "fastify";
import { invalidRequest } from "../domain/errors.js";

/**
 * Postgres stores no NUL character in text or jsonb, and jsonb refuses an
 * unpaired UTF-16 surrogate (JSON.stringify writes it as a lone `\ud800`
 * escape). Any string a schema accepts may reach a column or an audit
 * record, so input that holds either is refused at the door, for every
 * route, with 400 instead of failing in the database as a 500.
 */
export function isStorable(s: string): boolean {
  return s.indexOf("\0") === -1 && s.isWellFormed();
}

const MAX_DEPTH = 32;

/** True when every string in `value`, object keys included, is storable. */
export function allStorable(value: unknown, depth = 0): boolean {
  if (typeof value === "string") return isStorable(value);
  if (value === null || typeof value !== "object") return true;
  if (depth > MAX_DEPTH) return false;
  if (Array.isArray(value)) return value.every((v) => allStorable(v, depth + 1));
  for (const k in value) {
    if (!isStorable(k) || !allStorable((value as Record<string, unknown>)[k], depth + 1)) return false;
  }
  return true;
}

export const UNSTORABLE = "the request holds a character that cannot be stored (NUL or an unpaired UTF-16 surrogate)";

/** preValidation hook (callback style: it runs on the introspection hot path). */
export function refuseUnstorableInput(request: FastifyRequest, _reply: FastifyReply, done: HookHandlerDoneFunction): void {
  const h = request.headers["user-agent"];
  if (
    !allStorable(request.body) ||
    !allStorable(request.query) ||
    !allStorable(request.params) ||
    (typeof h === "string" && !isStorable(h))
  ) {
    done(invalidRequest(UNSTORABLE));
    return;
  }
  done();
}

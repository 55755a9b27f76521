// Validation of the revocation wire format documented at the top of
// revocation-sync.ts. Strict where it matters (a malformed entry fails the
// whole answer, so a revocation is never silently skipped), lenient where it
// does not (unknown members are ignored, for later versions).
import type { RevocationEntry } from "./revocation-set.js";

/** A response that does not follow the wire format. */
export class SyncProtocolError extends Error {
  override name = "SyncProtocolError";
}

const MAX_CURSOR_LENGTH = 1024;
const MAX_ID_LENGTH = 512;

/** What the server requires of verifiers, in seconds (members `max_staleness`, `max_token_lifetime`). */
export interface ServerBounds {
  maxStalenessSec?: number;
  maxTokenLifetimeSec?: number;
}

/** Validates a `{ entries, cursor }` body (a poll answer, or a snapshot/revocation event). */
export function parseBatch(body: unknown, fallbackCursor?: string): { entries: RevocationEntry[]; cursor: string; bounds: ServerBounds } {
  if (!isObject(body) || !Array.isArray(body.entries)) throw new SyncProtocolError("expected { entries, cursor }");
  const cursor = body.cursor ?? fallbackCursor;
  if (!isCursor(cursor)) throw new SyncProtocolError("missing or malformed cursor");
  return { entries: body.entries.map(parseEntry), cursor, bounds: parseBounds(body) };
}

/** The cursor of a heartbeat event, if it carries one, and the server's bounds. */
export function parseHeartbeat(body: unknown): { cursor: string | undefined; bounds: ServerBounds } {
  if (!isObject(body)) throw new SyncProtocolError("malformed heartbeat");
  const bounds = parseBounds(body);
  if (body.cursor === undefined) return { cursor: undefined, bounds };
  if (!isCursor(body.cursor)) throw new SyncProtocolError("malformed heartbeat cursor");
  return { cursor: body.cursor, bounds };
}

/** Absent members are fine (an older server); present ones must be positive numbers. */
function parseBounds(body: Record<string, unknown>): ServerBounds {
  const out: ServerBounds = {};
  for (const [member, key] of [
    ["max_staleness", "maxStalenessSec"],
    ["max_token_lifetime", "maxTokenLifetimeSec"],
  ] as const) {
    const v = body[member];
    if (v === undefined) continue;
    if (!isTime(v) || v <= 0) throw new SyncProtocolError(`malformed ${member}`);
    out[key] = v;
  }
  return out;
}

function parseEntry(v: unknown): RevocationEntry {
  if (isObject(v) && isTime(v.exp)) {
    const { sid, sub, kid, exp } = v;
    // Exactly one subject: an entry naming two would silently lose one of its revocations.
    if (isId(sid) && sub === undefined && kid === undefined) {
      if (v.not_before === undefined) return { sid, exp };
      if (isTime(v.not_before)) return { sid, exp, not_before: v.not_before };
    }
    if (isId(sub) && sid === undefined && kid === undefined && isTime(v.not_before)) return { sub, exp, not_before: v.not_before };
    if (isId(kid) && sid === undefined && sub === undefined) return { kid, exp };
  }
  throw new SyncProtocolError("malformed revocation entry");
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

const isTime = (v: unknown): v is number => typeof v === "number" && Number.isFinite(v);
const isId = (v: unknown): v is string => typeof v === "string" && v.length > 0 && v.length <= MAX_ID_LENGTH;
const isCursor = (v: unknown): v is string => typeof v === "string" && v.length > 0 && v.length <= MAX_CURSOR_LENGTH;

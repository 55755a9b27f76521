/** A bounded HTTP load, described as data so it can cross into the load-generator process. */
export interface LoadJob {
  /** Base URL on loopback, e.g. http://127.0.0.1:4000 */
  url: string;
  method: "GET" | "POST";
  path: string;
  connections: number;
  durationSec: number;
  headers: Record<string, string>;
  body:
    | { kind: "none" }
    /** RFC 7662 form `token=…&token_type_hint=access_token`, cycling through the tokens. */
    | { kind: "introspect-form"; tokens: string[] }
    /** No body: `Authorization: Bearer …` cycling through the tokens (GET /forward-auth). */
    | { kind: "bearer-header"; tokens: string[] }
    /** POST /refresh: a queue of live refresh tokens; each answer's successor goes to the back. */
    | { kind: "refresh-chain"; tokens: string[]; userAgent: string }
    /** POST /sessions for the subjects in turn. */
    | { kind: "issue"; subjects: string[]; ip: string; userAgent: string };
  /** A substring every good answer contains (e.g. `"active":true`); answers without it are counted as bad. */
  expect?: string;
  /** The load generator: autocannon in a Node process (default), or wrk (bench/lib/wrk.ts; refresh-chain and issue only). */
  engine?: "autocannon" | "wrk";
}

export interface LoadResult {
  /** 2xx answers that passed `expect`, per second. */
  rps: number;
  p50: number;
  p90: number;
  p99: number;
  total: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  /** 2xx answers without the expected substring. */
  bad: number;
  /** CPU time of the load generator's process over the load (not its start-up), per request sent, in µs. */
  loadGeneratorCpuUsPerRequest: number;
  /** refresh-chain: the live tokens at the end, for the next run to continue the chains. */
  remainingTokens?: string[];
}

/** The headers every request of a job carries: the job's own, plus the device's user agent for refresh chains. */
export function loadHeaders(job: LoadJob): Record<string, string> {
  return job.body.kind === "refresh-chain" ? { ...job.headers, "user-agent": job.body.userAgent } : { ...job.headers };
}

/** The POST /sessions body for one subject of an issue job. */
export function issueBody(b: Extract<LoadJob["body"], { kind: "issue" }>, subject: string): string {
  return JSON.stringify({ subject, transport: "bearer", ip: b.ip, user_agent: b.userAgent });
}

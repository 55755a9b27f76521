// session-authority/browser (SPEC §13): an ES module for current browsers,
// with no dependencies. One client per page; the tabs of an origin share one
// session: one of them refreshes at a time and the others take its result.
import { pageOrigin, readableCookie, type KeyValueStorage } from "./globals.js";
import { SharedState, SIGNED_OUT, type Snapshot } from "./shared-state.js";
import { tabLock } from "./tab-lock.js";

export type { KeyValueStorage } from "./globals.js";

export interface SessionClientOptions {
  /** Where the service answers /login, /refresh and /logout, e.g. "https://sessions.example.com". */
  baseUrl: string;
  /** The application (SPEC §10); sent on login unless it is the default one. */
  clientId?: string;
  /** "cookie" (recommended: tokens stay in HttpOnly cookies) or "bearer". Default "cookie". */
  transport?: "cookie" | "bearer";
  /**
   * Bearer mode only: where to keep the tokens across reloads. Without it
   * they stay in memory (and travel between open tabs by BroadcastChannel),
   * out of reach of anything that reads storage.
   */
  storage?: KeyValueStorage;
  /** Origins besides baseUrl's (and the page's own) that fetch() sends credentials to: APIs behind a gateway. */
  apiOrigins?: string[];
  /** How long a lost refresh is retried; keep it under the service's REFRESH_REUSE_GRACE (default 10 s). Default 8000 ms. */
  retryWindowMs?: number;
}

/** What session() knows: a bearer session's access-token claims; a cookie session's id and expiry (its token is HttpOnly). */
export interface SessionInfo {
  sid: string;
  exp: number;
  trn: "cookie" | "bearer";
  sub?: string;
  [claim: string]: unknown;
}

export interface SessionClient {
  login(credentials: { username: string; password: string }): Promise<SessionInfo>;
  /** Refreshes now (or takes the result of a tab that just did); false when there is no session left. */
  refresh(): Promise<boolean>;
  logout(opts?: { all?: boolean }): Promise<void>;
  session(): SessionInfo | null;
  fetch(input: string | URL | Request, init?: RequestInit): Promise<Response>;
  /** Called with session() after every change: sign-in, refresh, sign-out. Returns the unsubscribe. */
  onChange(listener: (session: SessionInfo | null) => void): () => void;
}

export class SessionError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    description: string,
  ) {
    super(description);
    this.name = "SessionError";
  }
}

interface TokenAnswer {
  session_id: string;
  expires_in: number;
  csrf_token?: string;
  access_token?: string;
  refresh_token?: string;
}

const SAFE = new Set(["GET", "HEAD", "OPTIONS"]);
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export function createSessionClient(options: SessionClientOptions): SessionClient {
  const base = options.baseUrl.replace(/\/+$/, "");
  const transport = options.transport ?? "cookie";
  const retryWindowMs = options.retryWindowMs ?? 8_000;
  const key = `session-authority:${base}:${options.clientId ?? "default"}`;
  const trusted = new Set([new URL(base).origin, ...(options.apiOrigins ?? []).map((o) => new URL(o).origin)]);
  const own = pageOrigin();
  if (own) trusted.add(own);
  const listeners = new Set<(s: SessionInfo | null) => void>();
  const lock = tabLock(key);

  const state = new SharedState(key, {
    keepsTokens: transport === "bearer",
    ...(options.storage ? { storage: options.storage } : {}),
    onAdopt: (previous, next) => {
      // Signed out stays signed out: said once, not again.
      if (!previous.sessionId && !next.sessionId) return;
      const info = session();
      for (const l of listeners) l(info);
    },
  });

  function session(): SessionInfo | null {
    const s = state.snapshot;
    if (!s.sessionId) return null;
    if (s.accessToken) {
      const claims = decodeClaims(s.accessToken);
      if (claims) return claims;
    }
    return Object.freeze({ sid: s.sessionId, exp: Math.floor(s.expiresAt / 1000), trn: transport });
  }

  function snapshotOf(answer: TokenAnswer, gen: number): Snapshot {
    const now = Date.now();
    const life = answer.expires_in * 1000;
    const s: Snapshot = {
      gen,
      sessionId: answer.session_id,
      expiresAt: now + life,
      // A minute ahead, or a third of a short lifetime: never a refresh on every call.
      refreshAt: now + Math.max(life - 60_000, (life * 2) / 3),
    };
    if (answer.csrf_token) s.csrf = answer.csrf_token;
    if (answer.access_token) s.accessToken = answer.access_token;
    if (answer.refresh_token) s.refreshToken = answer.refresh_token;
    return s;
  }

  async function post(path: string, body: unknown, headers: Record<string, string> = {}): Promise<Response> {
    return globalThis.fetch(`${base}${path}`, {
      method: "POST",
      credentials: transport === "cookie" ? "include" : "omit",
      headers: { "content-type": "application/json", ...headers },
      body: JSON.stringify(body),
    });
  }

  /**
   * The CSRF value: the cookie itself where the page can read it (same-origin
   * deployments; it is right even when an answer's cookies arrived and its
   * body did not), else the one the last answer carried.
   */
  const csrf = (s: Snapshot) => readableCookie("__Host-sa_csrf") ?? readableCookie("sa_csrf") ?? s.csrf;

  type Outcome = { kind: "ok"; answer: TokenAnswer } | { kind: "final" } | { kind: "transient" };

  /**
   * One refresh, retried while its answer may have been lost (network error,
   * 5xx, 429) inside the retry window: the service answers a retry inside
   * its reuse grace with the same successor, so retries converge.
   */
  async function refreshOnce(s: Snapshot): Promise<Outcome> {
    const deadline = Date.now() + retryWindowMs;
    for (let attempt = 0; ; attempt++) {
      let res: Response | undefined;
      try {
        res =
          transport === "cookie"
            ? await post("/refresh", {}, csrfHeader(csrf(s)))
            : await post("/refresh", { refresh_token: s.refreshToken ?? "" });
      } catch {
        res = undefined; // the answer never arrived: the rotation may have happened
      }
      if (res?.ok) return { kind: "ok", answer: (await res.json()) as TokenAnswer };
      if (res && res.status < 500 && res.status !== 429) return { kind: "final" };
      const wait = Math.min(250 * 2 ** attempt, 2_000);
      if (Date.now() + wait > deadline) return { kind: "transient" };
      await sleep(wait);
    }
  }

  /**
   * Makes sure the session is newer than generation `seen` (the one a
   * request went out with), refreshing under the tab lock unless another
   * tab already did. True when a live session is there afterwards.
   */
  function renewAfter(seen: number): Promise<boolean> {
    return lock(async () => {
      await state.catchUp(2_000);
      const s = state.snapshot;
      if (s.gen > seen) return s.sessionId !== null;
      if (!s.sessionId) return false;
      const outcome = await refreshOnce(s);
      if (outcome.kind === "ok") {
        state.commit(snapshotOf(outcome.answer, s.gen + 1));
        return true;
      }
      // Failed for good: signed out once, everywhere; nobody tries that token again.
      if (outcome.kind === "final") state.commit(SIGNED_OUT(s.gen + 1));
      return false;
    });
  }

  function withCredentials(request: Request, s: Snapshot): Request {
    // Credentials go only to the service and the APIs named: never to a third party.
    if (!trusted.has(new URL(request.url).origin)) return request;
    const headers = new Headers(request.headers);
    if (s.sessionId && transport === "bearer" && s.accessToken) headers.set("authorization", `Bearer ${s.accessToken}`);
    const value = csrf(s);
    if (s.sessionId && transport === "cookie" && !SAFE.has(request.method.toUpperCase()) && value) headers.set("x-csrf-token", value);
    return new Request(request, { headers, credentials: transport === "cookie" ? "include" : request.credentials });
  }

  async function authorizedFetch(input: string | URL | Request, init?: RequestInit): Promise<Response> {
    // A Request object is read once per send: keep the original for the retry.
    const original = new Request(input instanceof URL ? input.href : input, init);
    let s = state.snapshot;
    if (s.sessionId && Date.now() >= s.refreshAt) {
      await renewAfter(s.gen);
      s = state.snapshot;
    }
    const first = await globalThis.fetch(withCredentials(original.clone(), s));
    if (first.status !== 401 || !s.sessionId) return first;
    // Once after a 401, then the request once more.
    if (!(await renewAfter(s.gen))) return first;
    return globalThis.fetch(withCredentials(original, state.snapshot));
  }

  return {
    async login({ username, password }) {
      const body: Record<string, string> = { username, password, transport };
      if (options.clientId && options.clientId !== "default") body.client_id = options.clientId;
      const res = await post("/login", body);
      if (!res.ok) throw await errorOf(res);
      const answer = (await res.json()) as TokenAnswer;
      await lock(async () => {
        await state.catchUp(0);
        state.commit(snapshotOf(answer, state.snapshot.gen + 1));
      });
      return session()!;
    },
    async refresh() {
      return renewAfter(state.snapshot.gen);
    },
    async logout(opts = {}) {
      const seen = state.snapshot;
      try {
        if (seen.sessionId)
          await authorizedFetch(`${base}/logout`, {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: JSON.stringify(opts.all ? { all: true } : {}),
          });
      } finally {
        // Signed out here and in every tab, whatever the service answered.
        await lock(async () => state.commit(SIGNED_OUT(Math.max(seen.gen, state.snapshot.gen) + 1)));
      }
    },
    session,
    fetch: authorizedFetch,
    onChange(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}

function csrfHeader(value: string | undefined): Record<string, string> {
  return value ? { "x-csrf-token": value } : {};
}

async function errorOf(res: Response): Promise<SessionError> {
  const body = (await res.json().catch(() => ({}))) as { error?: string; error_description?: string };
  return new SessionError(res.status, body.error ?? "server_error", body.error_description ?? `the service answered ${res.status}`);
}

/** The access token's claims (read, not verified: the service and the APIs verify it). */
function decodeClaims(token: string): SessionInfo | null {
  try {
    const part = token.split(".")[1] ?? "";
    const bin = atob(part.replace(/-/g, "+").replace(/_/g, "/"));
    const json = new TextDecoder().decode(Uint8Array.from(bin, (c) => c.charCodeAt(0)));
    return Object.freeze(JSON.parse(json) as SessionInfo);
  } catch {
    return null;
  }
}

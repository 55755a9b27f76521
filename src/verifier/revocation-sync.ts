/**
 * Keeps a verifier's copy of the revocation list current (SPEC §4).
 *
 * ## Wire format (the server implements exactly this)
 *
 * Every request authenticates the service client with HTTP Basic, RFC 6749
 * §2.3.1: `Authorization: Basic base64(form(client_id) ":" form(client_secret))`,
 * where form() is application/x-www-form-urlencoded encoding. The client
 * needs scope `revocations:read`; any non-2xx answer is a failed sync.
 *
 * An **entry** is a JSON object, times in epoch seconds:
 *
 *     { "sid": "<session id>", "exp": 1700000600 }
 *     { "sub": "<user id>", "not_before": 1700000000, "exp": 1700000600 }
 *
 * A token is revoked if an entry names its `sid`, or names its `sub` with
 * `iat < not_before`. `exp` is when the last token the entry stops expires;
 * from then on the entry means nothing and clients drop it. An entry with
 * both or neither of `sid`/`sub`, or without a numeric `exp` (and, for `sub`,
 * `not_before`), is malformed and fails the whole response: a revocation is
 * never silently skipped. Unknown members are ignored.
 *
 * A **cursor** is an opaque string (at most 1024 characters) naming a
 * position in the list's history. Clients only send it back verbatim and
 * compare it for equality; the server gives one string per position.
 *
 * 1. `GET {revocationsUri}` →
 *    `200 { "entries": [every live entry], "cursor": "<position after them>",
 *    "max_staleness": 30, "max_token_lifetime": 600 }`: the last two (seconds,
 *    in every list and heartbeat; optional for older servers) are what the
 *    server requires of verifiers, taken as the defaults of `maxStalenessMs`
 *    and `maxTokenLifetimeMs`.
 * 2. `GET {revocationsUri}?since=<cursor>` →
 *    `200 { "entries": [entries added after <cursor>], "cursor": "<new position>" }`
 *    (`entries` may be empty, `cursor` then unchanged), or `410 Gone` when the
 *    server no longer knows `<cursor>`: the client then does (1).
 * 3. `GET {revocationsUri}/stream` with `Accept: text/event-stream` →
 *    `200 text/event-stream` (WHATWG HTML §9.2 server-sent events):
 *
 *        event: snapshot
 *        data: {"entries":[every live entry],"cursor":"c1"}
 *
 *        event: revocation
 *        id: c2
 *        data: {"entries":[new entries],"cursor":"c2"}
 *
 *        event: heartbeat
 *        data: {"cursor":"c2"}
 *
 *    - `snapshot` comes first when the client gave no cursor.
 *    - To resume, the client sends its cursor both as `?since=<cursor>` and
 *      as `Last-Event-ID: <cursor>` (the query wins if they differ). The
 *      server then sends no snapshot; its first event is a `revocation` with
 *      every entry added after the cursor or, if there are none, a
 *      `heartbeat`. A cursor it no longer knows gets `410 Gone`.
 *    - `revocation`: each batch of new entries, in order, `id` = its cursor.
 *    - `heartbeat`: at least every 5 s, carrying the stream's position (the
 *      cursor of the last batch this stream delivered).
 *    - `data` may span several `data:` lines; `:` comment lines may serve as
 *      keep-alives; `retry: <ms>` sets the client's minimum reconnect delay;
 *      unknown event types are ignored.
 *
 * ## Client behaviour
 *
 * - The stream is preferred. A `snapshot` or `revocation` event, or a
 *   `heartbeat` whose cursor equals the client's, is a successful sync: the
 *   copy is known current at that instant. A heartbeat with another cursor
 *   means something was missed: the client polls (2) at once instead.
 * - A stream that does not answer within `requestTimeoutMs`, answers non-200,
 *   sends malformed data, sends nothing at all (not even a comment) for
 *   `streamIdleTimeoutMs`, or ends, is dropped and reconnected after a
 *   backoff (doubling from `reconnectDelayMs.min` to `.max`, jittered; back
 *   to the minimum after a stream that delivered events).
 * - While the stream is down, and whenever the last sync is older than
 *   `pollIntervalMs` (default a third of the staleness bound), the client
 *   polls (2), or (1) when it has no cursor. A poll counts as a sync from the
 *   instant it was sent.
 * - Adding is a merge, so overlapping snapshots, polls and batches are
 *   harmless; entries are pruned once past `exp`.
 * - The verifier fails closed when the last sync is older than `maxStalenessMs`.
 */
import type { VerifierClock } from "./clock.js";
import { cancelOnAbort, childController, fetchAbortable, getJson, HttpStatusError, type FetchFn } from "./http.js";
import type { RevocationSet } from "./revocation-set.js";
import { parseBatch, parseHeartbeat, SyncProtocolError, type ServerBounds } from "./revocation-wire.js";
import { sleep } from "./sleep.js";
import { SseParser, type SseEvent } from "./sse.js";

export interface RevocationSyncOptions {
  uri: string;
  /** The `Authorization` header value (see basicAuthorization). */
  authorization: string;
  fetch: FetchFn;
  clock: VerifierClock;
  /** Aborting it stops the stream, polls and backoff waits (close()). */
  signal: AbortSignal;
  set: RevocationSet;
  pollIntervalMs: number;
  requestTimeoutMs: number;
  streamIdleTimeoutMs: number;
  reconnectDelayMs: { min: number; max: number };
  /** After every successful sync. */
  onSync(): void;
  /** The bounds the server advertised with a list or heartbeat. */
  onBounds(bounds: ServerBounds): void;
  onError(err: unknown): void;
}

export type StreamState = "connecting" | "open" | "down";

class CursorGoneError extends HttpStatusError {}

const MAX_LIST_BYTES = 64 << 20;

export class RevocationSync {
  /** Clock time (ms) of the last successful sync, null before the first. */
  lastSyncAt: number | null = null;
  streamState: StreamState = "down";
  private cursor: string | null = null;
  private streamHealthy = false;
  private streamDelivered = false;
  private retryHintMs = 0;
  private polling: Promise<void> | null = null;
  private streamLoop: Promise<void> | null = null;

  private pollIntervalMs: number;

  constructor(private readonly opts: RevocationSyncOptions) {
    this.pollIntervalMs = opts.pollIntervalMs;
  }

  /** A new poll interval (when the server's staleness bound replaced the default). */
  setPollInterval(ms: number): void {
    this.pollIntervalMs = ms;
  }

  /** Opens the stream (and keeps reopening it until the signal aborts). */
  start(): void {
    this.streamLoop ??= this.runStream();
  }

  /**
   * Periodic upkeep: prunes expired entries and polls when the stream is not
   * delivering or the last sync is older than the poll interval.
   */
  maintain(): void {
    const now = this.opts.clock.now().getTime();
    this.opts.set.prune(Math.floor(now / 1000));
    if (!this.streamHealthy || this.lastSyncAt === null || now - this.lastSyncAt >= this.pollIntervalMs) this.poll();
  }

  /** Resolves once the stream loop and any poll have wound down (after the signal aborted). */
  async stopped(): Promise<void> {
    await this.streamLoop;
    await this.polling;
  }

  /** Starts a poll unless one is in flight. */
  poll(): void {
    if (this.polling || this.opts.signal.aborted) return;
    const p = this.pollOnce().catch((err: unknown) => {
      if (!this.opts.signal.aborted) this.opts.onError(err);
    });
    this.polling = p;
    void p.then(() => {
      if (this.polling === p) this.polling = null;
    });
  }

  private async pollOnce(): Promise<void> {
    const since = this.cursor;
    const sentAt = this.opts.clock.now().getTime();
    let body: unknown;
    try {
      body = await this.get(since);
    } catch (err) {
      if (since === null || !(err instanceof HttpStatusError && err.status === 410)) throw err;
      // The server forgot our cursor: start over from the full list.
      body = await this.get(null);
    }
    const batch = parseBatch(body);
    this.opts.onBounds(batch.bounds);
    this.opts.set.add(batch.entries, Math.floor(this.opts.clock.now().getTime() / 1000));
    // If the stream moved the cursor meanwhile, it is ahead of this answer.
    if (this.cursor === since) this.cursor = batch.cursor;
    this.synced(sentAt);
  }

  private async get(since: string | null): Promise<unknown> {
    const url =
      since === null ? this.opts.uri : `${this.opts.uri}${this.opts.uri.includes("?") ? "&" : "?"}since=${encodeURIComponent(since)}`;
    const { body } = await getJson(
      this.opts.fetch,
      url,
      { authorization: this.opts.authorization },
      this.opts.signal,
      this.opts.requestTimeoutMs,
      MAX_LIST_BYTES,
    );
    return body;
  }

  private async runStream(): Promise<void> {
    const { min, max } = this.opts.reconnectDelayMs;
    let delay = min;
    let retriedAtOnce = false;
    while (!this.opts.signal.aborted) {
      this.streamDelivered = false;
      let retryAtOnce = false;
      try {
        await this.streamOnce();
      } catch (err) {
        if (this.opts.signal.aborted) break;
        // A forgotten resume cursor: reconnect at once, without it, for a snapshot.
        retryAtOnce = err instanceof CursorGoneError && !retriedAtOnce;
        if (!retryAtOnce) this.opts.onError(err);
      }
      this.streamHealthy = false;
      this.streamState = "down";
      if (this.opts.signal.aborted) break;
      retriedAtOnce = retryAtOnce;
      if (retryAtOnce) continue;
      // Cover the gap while the stream is away.
      this.poll();
      // The server's retry: hint may lengthen the delay, never past the maximum.
      if (this.streamDelivered) delay = Math.min(max, Math.max(min, this.retryHintMs));
      // "Equal jitter": spread reconnections of many verifiers after a server restart.
      if (!(await sleep(delay / 2 + (Math.random() * delay) / 2, this.opts.signal))) break;
      delay = Math.min(max, delay * 2);
    }
    this.streamState = "down";
  }

  private async streamOnce(): Promise<void> {
    const since = this.cursor;
    const headers: Record<string, string> = {
      authorization: this.opts.authorization,
      accept: "text/event-stream",
      "cache-control": "no-cache",
    };
    let url = `${this.opts.uri}/stream`;
    if (since !== null) {
      url += `?since=${encodeURIComponent(since)}`;
      headers["last-event-id"] = since;
    }
    this.streamState = "connecting";
    // The timeout covers the answer's headers; afterwards the idle watchdog takes over.
    const ctl = childController(this.opts.signal, this.opts.requestTimeoutMs);
    let idle: NodeJS.Timeout | undefined;
    try {
      const res = await fetchAbortable(this.opts.fetch, url, { headers, signal: ctl.signal, redirect: "error" });
      ctl.disarm();
      if (!res.ok || !res.body) {
        await res.body?.cancel().catch(() => {});
        if (res.status === 410 && since !== null) {
          if (this.cursor === since) this.cursor = null;
          throw new CursorGoneError(url, res.status);
        }
        throw new HttpStatusError(url, res.status);
      }
      const type = res.headers.get("content-type") ?? "";
      if (!type.toLowerCase().startsWith("text/event-stream"))
        throw new SyncProtocolError(`stream answered with content-type ${JSON.stringify(type)}`);
      this.streamState = "open";
      const arm = () => {
        clearTimeout(idle);
        idle = setTimeout(
          () => ctl.abort(new Error(`revocation stream silent for ${this.opts.streamIdleTimeoutMs} ms`)),
          this.opts.streamIdleTimeoutMs,
        );
        idle.unref();
      };
      arm();
      const parser = new SseParser((e) => this.onStreamEvent(e));
      const decoder = new TextDecoder();
      const reader = res.body.getReader();
      const stopReading = cancelOnAbort(reader, ctl.signal);
      try {
        for (;;) {
          const { done, value } = await reader.read();
          if (ctl.signal.aborted) throw ctl.signal.reason;
          if (done) break;
          arm();
          parser.push(decoder.decode(value, { stream: true }));
          if (parser.retryMs !== undefined) this.retryHintMs = parser.retryMs;
        }
        parser.push(decoder.decode());
        parser.end();
      } catch (err) {
        // Malformed data or a dropped connection: release the socket too.
        ctl.abort(err);
        throw err;
      } finally {
        stopReading();
      }
    } finally {
      clearTimeout(idle);
      ctl.dispose();
    }
  }

  private onStreamEvent(e: SseEvent): void {
    const now = this.opts.clock.now().getTime();
    switch (e.event) {
      case "snapshot":
      case "revocation": {
        const batch = parseBatch(JSON.parse(e.data), e.id);
        this.opts.onBounds(batch.bounds);
        this.opts.set.add(batch.entries, Math.floor(now / 1000));
        this.cursor = batch.cursor;
        this.markStreamAlive();
        this.synced(now);
        return;
      }
      case "heartbeat": {
        const { cursor, bounds } = parseHeartbeat(JSON.parse(e.data));
        this.opts.onBounds(bounds);
        this.markStreamAlive();
        if (this.cursor !== null && (cursor === undefined || cursor === this.cursor)) this.synced(now);
        else this.poll();
        return;
      }
      default:
        // Unknown event types are for later versions of the protocol.
        return;
    }
  }

  private markStreamAlive(): void {
    this.streamHealthy = true;
    this.streamDelivered = true;
  }

  private synced(at: number): void {
    if (this.lastSyncAt === null || at > this.lastSyncAt) this.lastSyncAt = at;
    this.opts.onSync();
  }
}

import { clientGuard } from "../../clients/client-auth.js";
import type { FeedBatch } from "../../revocation/revocation-feed.js";
import type { Services } from "../../services.js";
import type { App } from "../types.js";
import { listBody, SinceQuery, sinceOf, verifierBounds } from "./revocations.js";

export interface StreamOptions {
  /** Heartbeat period (SPEC: at most 5 s). */
  heartbeatMs: number;
}

/** A client that cannot keep up is dropped; it resumes with Last-Event-ID. */
const MAX_BUFFERED_BYTES = 1 << 20;

/**
 * GET /revocations/stream (SPEC §4): the revocation list as server-sent
 * events (WHATWG HTML §9.2), in the wire format of src/verifier/revocation-sync.ts:
 * a `snapshot` (or, resuming with `since`/Last-Event-ID, the backlog as a
 * `revocation`, else a `heartbeat`), then a `revocation` per batch the
 * instance's mirror learns, and a `heartbeat` every `heartbeatMs`.
 */
export function registerRevocationStream(app: App, services: Services, opts: StreamOptions): void {
  const open = new Set<() => void>();
  const bounds = verifierBounds(services.config);
  // Streams never end by themselves: end them so shutdown is not held up.
  app.addHook("preClose", async () => {
    for (const end of [...open]) end();
  });

  app.get(
    "/revocations/stream",
    { schema: { querystring: SinceQuery }, preHandler: clientGuard(services, "revocations:read") },
    async (request, reply) => {
      const since = sinceOf(request.query.since, request.headers["last-event-id"]);
      const feed = services.revocationFeed;
      // Listen before reading the backlog, so nothing falls between the two.
      const pending: FeedBatch[] = [];
      let deliver: (batch: FeedBatch) => void = (b) => pending.push(b);
      const unsubscribe = feed.subscribe((b) => deliver(b));
      let initial;
      try {
        initial = await services.revocationListing.list(since);
      } catch (err) {
        unsubscribe();
        throw err;
      }

      reply.hijack();
      const res = reply.raw;
      let ended = false;
      let timer: NodeJS.Timeout | undefined;
      // Everything this stream has delivered is at or below `position`.
      let position = initial.cursor;
      let limit = MAX_BUFFERED_BYTES;
      const end = () => {
        if (ended) return;
        ended = true;
        clearInterval(timer);
        unsubscribe();
        open.delete(end);
        if (!res.writableEnded) res.end();
      };
      const write = (event: string, data: unknown, id?: bigint) => {
        if (ended) return;
        if (res.writableLength > limit) return end();
        res.write(`event: ${event}\n${id !== undefined ? `id: ${id}\n` : ""}data: ${JSON.stringify(data)}\n\n`);
      };
      const send = (batch: FeedBatch) => {
        if (batch.cursor > position) position = batch.cursor;
        write("revocation", listBody(batch.entries, position, bounds), position);
      };
      const heartbeat = () => write("heartbeat", { cursor: position.toString(), ...bounds });

      open.add(end);
      // The response's close is the client going away (the request's fires once it is read).
      res.on("close", end);
      res.on("error", end);
      if (res.destroyed || !res.socket || res.socket.destroyed) return end();
      res.writeHead(200, {
        "content-type": "text/event-stream; charset=utf-8",
        "cache-control": "no-store",
        "x-content-type-options": "nosniff",
        "x-accel-buffering": "no",
        "x-request-id": request.id,
      });
      res.write("retry: 1000\n\n");
      if (since === undefined) write("snapshot", listBody(initial.entries, position, bounds), position);
      else if (initial.entries.length > 0) write("revocation", listBody(initial.entries, position, bounds), position);
      else heartbeat();
      // A large first event may still be buffered; the limit applies to what follows it.
      limit = res.writableLength + MAX_BUFFERED_BYTES;
      for (const b of pending.splice(0)) send(b);
      deliver = send;
      timer = setInterval(heartbeat, opts.heartbeatMs);
    },
  );
}

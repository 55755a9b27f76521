import { Buffer } from "node:buffer";

export type FetchFn = typeof globalThis.fetch;

/**
 * `Authorization: Basic …` for a client. RFC 6749 §2.3.1: the id and the
 * secret are form-urlencoded (Appendix B) before RFC 7617's `id:secret`
 * base64, so a colon or a non-ASCII character in either survives.
 */
export function basicAuthorization(clientId: string, clientSecret: string): string {
  const form = (s: string) => new URLSearchParams([["", s]]).toString().slice(1);
  return `Basic ${Buffer.from(`${form(clientId)}:${form(clientSecret)}`, "utf8").toString("base64")}`;
}

/**
 * An AbortController that also aborts with `parent` and after `timeoutMs`
 * (unless `disarm()` is called first). `dispose()` detaches it from the parent
 * so long-lived parents do not collect listeners.
 */
export function childController(
  parent: AbortSignal,
  timeoutMs: number,
): { signal: AbortSignal; abort(reason?: unknown): void; disarm(): void; dispose(): void } {
  const controller = new AbortController();
  const onParent = () => controller.abort(parent.reason);
  if (parent.aborted) controller.abort(parent.reason);
  else parent.addEventListener("abort", onParent, { once: true });
  let timer: NodeJS.Timeout | undefined = setTimeout(
    () => controller.abort(new Error(`request timed out after ${timeoutMs} ms`)),
    timeoutMs,
  );
  timer.unref();
  const disarm = () => {
    if (timer !== undefined) clearTimeout(timer);
    timer = undefined;
  };
  return {
    signal: controller.signal,
    abort: (reason) => controller.abort(reason),
    disarm,
    dispose() {
      disarm();
      parent.removeEventListener("abort", onParent);
    },
  };
}

/** A non-2xx answer; `status` lets callers react to 410 Gone. */
export class HttpStatusError extends Error {
  constructor(
    readonly url: string,
    readonly status: number,
  ) {
    super(`GET ${url} answered ${status}`);
    this.name = "HttpStatusError";
  }
}

/**
 * GET a JSON document within `timeoutMs` (headers and body), reading at most
 * `maxBytes`: a misbehaving server can neither hang nor exhaust the caller.
 */
export async function getJson(
  fetchFn: FetchFn,
  url: string,
  headers: Record<string, string>,
  parent: AbortSignal,
  timeoutMs: number,
  maxBytes: number,
): Promise<{ body: unknown; headers: Headers }> {
  const ctl = childController(parent, timeoutMs);
  try {
    // Credentials are never replayed to wherever a redirect points.
    const redirect = headers.authorization === undefined ? "follow" : "error";
    const res = await fetchAbortable(fetchFn, url, { headers: { accept: "application/json", ...headers }, signal: ctl.signal, redirect });
    if (!res.ok) {
      await res.body?.cancel().catch(() => {});
      throw new HttpStatusError(url, res.status);
    }
    const text = await readText(res, ctl.signal, maxBytes);
    return { body: JSON.parse(text) as unknown, headers: res.headers };
  } finally {
    ctl.dispose();
  }
}

async function readText(res: Response, signal: AbortSignal, maxBytes: number): Promise<string> {
  if (!res.body) return "";
  const reader = res.body.getReader();
  const stopReading = cancelOnAbort(reader, signal);
  try {
    const chunks: Uint8Array[] = [];
    let size = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (signal.aborted) throw signal.reason;
      if (done) break;
      size += value.byteLength;
      if (size > maxBytes) {
        await reader.cancel().catch(() => {});
        throw new Error(`response body exceeds ${maxBytes} bytes`);
      }
      chunks.push(value);
    }
    return Buffer.concat(chunks).toString("utf8");
  } finally {
    stopReading();
  }
}

/**
 * fetch that settles when `signal` aborts. fetch should do so itself, but
 * undici (Node 20) links the caller's signal to the request through a weak
 * reference, and after a garbage collection an abort may no longer reach it
 * (nodejs/node#55428, nodejs/undici#4984): a hung server would then hold a
 * poll, the stream and close() forever. A response that arrives after the
 * abort is cancelled at once.
 */
export async function fetchAbortable(fetchFn: FetchFn, url: string, init: RequestInit & { signal: AbortSignal }): Promise<Response> {
  const { signal } = init;
  signal.throwIfAborted();
  const pending = fetchFn(url, init);
  let onAbort!: () => void;
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
  });
  try {
    return await Promise.race([pending, aborted]);
  } catch (err) {
    if (signal.aborted)
      pending.then(
        (res) => res.body?.cancel().catch(() => {}),
        () => {},
      );
    throw err;
  } finally {
    signal.removeEventListener("abort", onAbort);
  }
}

/**
 * Cancels a body reader when `signal` aborts: the same undici weakness as
 * above leaves a read() of a streaming body pending forever after abort
 * (seen here: close() hung after a burst of verifications had triggered a
 * GC). Cancelling the reader settles the read and closes the connection.
 * Returns the function that detaches the listener.
 */
export function cancelOnAbort(reader: ReadableStreamDefaultReader<Uint8Array>, signal: AbortSignal): () => void {
  const cancel = () => void reader.cancel(signal.reason).catch(() => {});
  if (signal.aborted) {
    cancel();
    return () => {};
  }
  signal.addEventListener("abort", cancel, { once: true });
  return () => signal.removeEventListener("abort", cancel);
}

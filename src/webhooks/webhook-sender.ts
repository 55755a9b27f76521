/** What one attempt ended with: the receiver's status, or why there was none. */
export type SendResult = { status: number } | { status: null; error: string };

export interface SendOptions {
  timeoutMs: number;
}

/**
 * POSTs one signed delivery. Never follows a redirect (a 3xx is a failure,
 * SPEC §14), gives up after `timeoutMs`, and never reads the receiver's
 * body, so neither a slow nor a large answer can hold the worker.
 */
export async function sendDelivery(url: string, body: string, headers: Record<string, string>, opts: SendOptions): Promise<SendResult> {
  try {
    const res = await fetch(url, {
      method: "POST",
      body,
      headers: { ...headers, "content-type": "application/json", "user-agent": "session-authority-webhooks" },
      redirect: "manual",
      signal: AbortSignal.timeout(opts.timeoutMs),
    });
    await res.body?.cancel().catch(() => {});
    return { status: res.status };
  } catch (err) {
    const e = err as Error & { cause?: { code?: string } };
    return { status: null, error: e.name === "TimeoutError" ? `no answer within ${opts.timeoutMs} ms` : (e.cause?.code ?? e.message) };
  }
}

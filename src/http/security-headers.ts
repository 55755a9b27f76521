import type { FastifyReply, FastifyRequest } from "fastify";

/**
 * onSend: headers every answer carries (an API of tokens is never framed,
 * sniffed or cached by accident) and the request id, for matching a client's
 * report with the log.
 */
export function securityHeaders(
  request: FastifyRequest,
  reply: FastifyReply,
  payload: unknown,
  done: (err: Error | null, payload?: unknown) => void,
): void {
  void reply.header("x-request-id", request.id);
  void reply.header("x-content-type-options", "nosniff");
  void reply.header("x-frame-options", "DENY");
  void reply.header("referrer-policy", "no-referrer");
  if (!reply.hasHeader("content-security-policy")) {
    void reply.header("content-security-policy", "default-src 'none'; frame-ancestors 'none'");
  }
  if (!reply.hasHeader("cache-control")) void reply.header("cache-control", "no-store");
  done(null, payload);
}

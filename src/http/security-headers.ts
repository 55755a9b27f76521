import type { FastifyReply, FastifyRequest } from "fastify";

/** Headers every answer carries: an API of tokens is never framed, sniffed or cached by accident. */
export async function securityHeaders(_request: FastifyRequest, reply: FastifyReply, payload: unknown): Promise<unknown> {
  void reply.header("x-content-type-options", "nosniff");
  void reply.header("x-frame-options", "DENY");
  void reply.header("referrer-policy", "no-referrer");
  if (!reply.hasHeader("content-security-policy")) {
    void reply.header("content-security-policy", "default-src 'none'; frame-ancestors 'none'");
  }
  if (!reply.hasHeader("cache-control")) void reply.header("cache-control", "no-store");
  return payload;
}

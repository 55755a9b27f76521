import type { FastifyError, FastifyInstance } from "fastify";
import { AppError, RateLimitedError, UnavailableError } from "../domain/errors.js";
import { isDatabaseUnavailable } from "../storage/unavailable.js";

/**
 * Maps every error to SPEC §5's body in one place. Client errors say what was
 * wrong; anything else is a generic 500 whose cause goes to the log with the
 * request id, never to the client.
 */
export function registerErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((err: FastifyError | AppError | Error, request, reply) => {
    if (err instanceof AppError) {
      if (err instanceof RateLimitedError || err instanceof UnavailableError) {
        void reply.header("retry-after", String(err.retryAfterSeconds));
      }
      if (err.status >= 500) request.log.error({ err, detail: err.detail }, "request failed");
      else if (err.detail !== undefined) request.log.info({ code: err.code, detail: err.detail }, "request refused");
      return reply.status(err.status).send({ error: err.code, error_description: err.description });
    }
    const fe = err as FastifyError;
    if (fe.validation) {
      return reply.status(400).send({ error: "invalid_request", error_description: validationMessage(fe) });
    }
    const status = typeof fe.statusCode === "number" ? fe.statusCode : 500;
    if (status >= 400 && status < 500) {
      // Fastify's own client errors: malformed JSON, body too large, bad media type…
      return reply.status(status).send({ error: status === 404 ? "not_found" : "invalid_request", error_description: publicMessage(fe) });
    }
    if (isDatabaseUnavailable(err)) {
      request.log.warn({ err }, "database unavailable");
      void reply.header("retry-after", "2");
      return reply.status(503).send({ error: "unavailable", error_description: "the database is unavailable; retry shortly" });
    }
    request.log.error({ err }, "unhandled error");
    return reply.status(500).send({ error: "server_error", error_description: "internal error" });
  });

  app.setNotFoundHandler((_request, reply) => {
    // The path is input: not repeated.
    return reply.status(404).send({ error: "not_found", error_description: "no such route" });
  });
}

function validationMessage(err: FastifyError): string {
  const first = err.validation?.[0];
  if (!first) return "the request is malformed";
  const where = err.validationContext ?? "body";
  const path = first.instancePath ? first.instancePath.replace(/^\//, "").replace(/\//g, ".") : "";
  const missing = (first.params as { missingProperty?: string } | undefined)?.missingProperty;
  if (missing) return `${where}.${missing} is required`;
  // The unknown field's name is input (a mangled body can turn a token into
  // a field name): it is never repeated. Paths and messages come from the schema.
  if (first.keyword === "additionalProperties") return `${where} has a field this route does not take`;
  return `${where}${path ? "." + path : ""} ${first.message ?? "is invalid"}`;
}

const PUBLIC_MESSAGES: Record<string, string> = {
  FST_ERR_CTP_INVALID_JSON_BODY: "the body is not valid JSON",
  FST_ERR_CTP_EMPTY_JSON_BODY: "the body is empty but declared as JSON",
  FST_ERR_CTP_BODY_TOO_LARGE: "the body is too large",
  FST_ERR_CTP_INVALID_MEDIA_TYPE: "unsupported content type",
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: "content-length does not match the body",
};

function publicMessage(err: FastifyError): string {
  if (err.code && PUBLIC_MESSAGES[err.code]) return PUBLIC_MESSAGES[err.code]!;
  if (err instanceof SyntaxError) return "the body is not valid JSON";
  return "the request is malformed";
}

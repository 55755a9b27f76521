import type { LoggerOptions } from "pino";

/**
 * Tokens, passwords, cookies and Authorization headers never reach the logs
 * (SPEC §6). Fastify's request serializer logs no bodies; these paths cover
 * headers and anything a handler might log by mistake.
 */
export const REDACT_PATHS = [
  "req.headers.authorization",
  "req.headers.cookie",
  'req.headers["x-csrf-token"]',
  'res.headers["set-cookie"]',
  "headers.authorization",
  "headers.cookie",
  "*.password",
  "*.refresh_token",
  "*.access_token",
  "*.token",
  "*.client_secret",
  "password",
  "refresh_token",
  "access_token",
  "token",
  "client_secret",
];

export function loggerOptions(level: string): LoggerOptions {
  return {
    level,
    redact: { paths: REDACT_PATHS, censor: "[redacted]" },
    serializers: {
      req: (req: { method?: string; url?: string; id?: string; ip?: string }) => ({
        method: req.method,
        // Query strings could carry tokens: log the path only.
        url: typeof req.url === "string" ? req.url.split("?")[0] : req.url,
        id: req.id,
        ip: req.ip,
      }),
    },
  };
}

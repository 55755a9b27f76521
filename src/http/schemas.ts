import { Type } from "typebox";

/** SPEC §5 error body. */
export const ErrorBody = Type.Object({
  error: Type.String(),
  error_description: Type.String(),
});

export const errorResponses = {
  400: ErrorBody,
  401: ErrorBody,
  403: ErrorBody,
  404: ErrorBody,
  409: ErrorBody,
  429: ErrorBody,
  503: ErrorBody,
};

export const TransportField = Type.Union([Type.Literal("bearer"), Type.Literal("cookie")]);

/** A `client_id` naming an application (SPEC §10): bounded only, so a malformed one is 401 invalid_client like an unknown one. */
export const ApplicationIdField = Type.String({ minLength: 1, maxLength: 256 });

/** Opaque refresh tokens are 43 base64url characters; a little slack, never unbounded. */
export const RefreshTokenField = Type.String({ minLength: 1, maxLength: 512 });

export const TokenResponse = Type.Object({
  access_token: Type.Optional(Type.String()),
  refresh_token: Type.Optional(Type.String()),
  token_type: Type.Optional(Type.Literal("Bearer")),
  expires_in: Type.Integer(),
  refresh_expires_in: Type.Optional(Type.Integer()),
  session_id: Type.String(),
  /** POST /sessions: the session's user, the tokens' `sub` (an external user's id is learned here). */
  user_id: Type.Optional(Type.String()),
  /** Cookie sessions: the CSRF cookie's value, for pages that cannot read it (SPEC §13). */
  csrf_token: Type.Optional(Type.String()),
  evicted_session_ids: Type.Optional(Type.Array(Type.String())),
});

export const SessionView = Type.Object({
  id: Type.String(),
  /** SPEC §10: the application the session belongs to. */
  client_id: Type.String(),
  transport: TransportField,
  created_at: Type.String({ format: "date-time" }),
  last_seen_at: Type.String({ format: "date-time" }),
  idle_expires_at: Type.String({ format: "date-time" }),
  absolute_expires_at: Type.String({ format: "date-time" }),
  created_ip: Type.Union([Type.String(), Type.Null()]),
  last_ip: Type.Union([Type.String(), Type.Null()]),
  user_agent: Type.Union([Type.String(), Type.Null()]),
  device: Type.Object({
    browser: Type.Union([Type.String(), Type.Null()]),
    os: Type.Union([Type.String(), Type.Null()]),
    type: Type.Union([Type.String(), Type.Null()]),
  }),
  device_flagged: Type.Boolean(),
  device_score: Type.Integer(),
  current: Type.Boolean(),
});

import { Type } from "typebox";

/**
 * client_secret_post (RFC 6749 §2.3.1): the credentials may come in the
 * body. Bounded but not validated here, so a bad id is 401 invalid_client,
 * not a schema error.
 */
export const ClientCredentialFields = {
  client_id: Type.Optional(Type.String({ maxLength: 256 })),
  client_secret: Type.Optional(Type.String({ maxLength: 512 })),
};

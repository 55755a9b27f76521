import type { ApplicationCache } from "../applications/application-cache.js";
import { APPLICATION_ID, DEFAULT_APPLICATION_ID } from "../domain/applications.js";
import { assertApplicationAdmits } from "../domain/new-session.js";
import type { Transport } from "../domain/types.js";

/**
 * The application a `POST /login` or `POST /sessions` names (SPEC §10:
 * `default` when absent), checked against the in-memory table before any
 * costly work: unknown is 401 `invalid_client`, a transport it does not
 * allow 400 `invalid_request`. An id that cannot be an application's is
 * unknown without a reload of the table.
 */
export async function requestedApplication(apps: ApplicationCache, clientId: string | undefined, transport: Transport): Promise<string> {
  const id = clientId ?? DEFAULT_APPLICATION_ID;
  assertApplicationAdmits(APPLICATION_ID.test(id) ? await apps.lookup(id) : undefined, transport);
  return id;
}

import { clientGuard } from "../../clients/client-auth.js";
import { chainReportView } from "../../audit/chain-report.js";
import type { Services } from "../../services.js";
import type { App } from "../types.js";

/** Admin API: recompute the audit hash chain (SPEC §14). */
export function registerAdminAudit(app: App, services: Services): void {
  const guard = clientGuard(services, "admin");
  app.get("/admin/audit/verify", { preValidation: guard }, async () => chainReportView(await services.auditChain.verify()));
}

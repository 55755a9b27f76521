import type { ApplicationStore, ApplicationTx, PolicyEffect, UserRange } from "./application-ports.js";
import {
  APPLICATION_ID,
  type Application,
  type ApplicationPolicy,
  DEFAULT_APPLICATION_ID,
  normalizeOrigin,
  type PolicyInput,
  type PolicyOverrides,
  parsePolicy,
  policyProblem,
  policyToWire,
  resolvePolicy,
  sessionLifetimeColumns,
} from "./applications.js";
import type { Clock } from "./clock.js";
import { conflict, invalidRequest, notFound } from "./errors.js";
import type { RevocationPublisher } from "./ports.js";
import { recordRevokedSessions, revocationEntryBefore, type RevocationCommit } from "./revocation-entries.js";
import type { Transport } from "./types.js";

export interface ApplicationServiceDeps {
  store: ApplicationStore;
  publisher: RevocationPublisher;
  clock: Clock;
  /** The service-wide policy (§9's variables): what a field an application leaves unset takes. */
  defaults: ApplicationPolicy;
  /** ACCESS_TOKEN_TTL: no application's access tokens may live longer (policyProblem). */
  serviceAccessTokenTtlMs: number;
  /** After every committed write: this instance reloads its application cache (others do within their period). */
  changed?: () => Promise<void>;
  /** Sessions per transaction of a policy change (default 5000): bounds how long its row locks are held. */
  batchSize?: number;
}

/** The fields of an application as the admin API and the CLI give them (validated here). */
export interface ApplicationFields {
  name?: unknown;
  transports?: unknown;
  origins?: unknown;
  policy?: unknown;
}

/** What a policy does to the live sessions of its application (SPEC §10 dry run). */
export interface PolicyReport {
  sessionsEnded: number;
  sessionsShortened: number;
  usersOverLimit: number;
  sample: string[];
}

const NAME_MAX = 128;
const ORIGINS_MAX = 64;
const ORIGIN_MAX = 512;
const TRANSPORTS: readonly Transport[] = ["bearer", "cookie"];
/** Entries per publish: a channel message carries at most 10 000 (storage/redis/revocation-store.ts). */
const PUBLISH_CHUNK = 2000;
const DEFAULT_BATCH = 5000;
const SAMPLE = 20;

/**
 * Applications (SPEC §10): their lifecycle, and a policy change applied at
 * once to the application's live sessions. Every write runs in one
 * transaction holding the application's exclusive lock, audited with its
 * actor; revocations are published after commit, like every revocation
 * (revocation-service.ts).
 */
/** Whether an update reaches live sessions: a policy field given, or a transport no longer allowed. */
const changesSessions = (before: Application, after: Application, fields: { policy?: unknown }): boolean =>
  fields.policy !== undefined || before.transports.some((t) => !after.transports.includes(t));

export class ApplicationService {
  constructor(private readonly deps: ApplicationServiceDeps) {}

  list(): Promise<Application[]> {
    return this.deps.store.list();
  }

  async get(id: string): Promise<Application> {
    const app = APPLICATION_ID.test(id) ? await this.deps.store.get(id) : null;
    if (!app) throw notFound("no such application");
    return app;
  }

  /** The application with every policy field resolved (what its sessions follow). */
  resolved(app: Application): ApplicationPolicy {
    return resolvePolicy(this.deps.defaults, app.policy);
  }

  async create(input: ApplicationFields & { id?: unknown }, actor: string): Promise<Application> {
    if (typeof input.id !== "string" || !APPLICATION_ID.test(input.id))
      throw invalidRequest("id must be 1 to 64 characters of a-z, 0-9, '.', '_' and '-'");
    const id = input.id;
    if (input.name === undefined) throw invalidRequest("name is required");
    const now = this.deps.clock.now();
    const fields = this.fields(input);
    const app: Application = {
      id,
      name: fields.name!,
      transports: fields.transports ?? [...TRANSPORTS],
      origins: fields.origins ?? [],
      policy: dropNulls(fields.policy ?? {}),
      createdAt: now,
      updatedAt: now,
    };
    this.checkPolicy(app);
    await this.deps.store.withApplication(id, true, async (tx) => {
      if (!(await tx.insertApplication(app))) throw conflict("an application with this id exists");
      await tx.audit({ type: "application_created", actor, detail: { application_id: id, ...wire(app) } }, now);
    });
    await this.deps.changed?.();
    return app;
  }

  /**
   * PATCH: the fields given replace the stored ones, policy fields merge one
   * by one (null returns a field to the service-wide default). The row is
   * written first, so every issuance after it follows the new policy; a
   * policy change, or a transport taken away, then applies at once to the
   * live sessions, in batches (applyInBatches), and is audited with its
   * counts when done.
   */
  async update(id: string, patch: ApplicationFields, actor: string): Promise<{ application: Application; effect: PolicyReport | null }> {
    const fields = this.fields(patch);
    const now = this.deps.clock.now();
    const { before, after, reaches } = await this.deps.store.withApplication(id, true, async (tx) => {
      const before = await this.locked(tx, id);
      const after = this.merged(before, fields, now);
      await tx.updateApplication(after);
      const reaches = changesSessions(before, after, fields);
      if (!reaches) await tx.audit(updatedEvent(before, after, null, actor), now);
      return { before, after, reaches };
    });
    await this.deps.changed?.();
    if (!reaches) return { application: after, effect: null };
    // Each batch applies the application's policy as stored then: a later change's batches converge on its own.
    const effect = await this.applyInBatches(id, now, actor, true, (tx) => this.locked(tx, id));
    await this.deps.store.withApplication(id, true, (tx) => tx.audit(updatedEvent(before, after, effect, actor), now));
    return { application: after, effect };
  }

  /**
   * What PATCH `{ policy }` would do now, changing nothing: the very
   * statements of the change, batch by batch, each in a transaction that is
   * rolled back, so the counts cannot drift from what the change does.
   */
  async dryRun(id: string, policy: unknown): Promise<PolicyReport> {
    const fields = this.fields({ policy });
    const now = this.deps.clock.now();
    return this.applyInBatches(id, now, "dry-run", false, async (tx) => {
      const after = this.merged(await this.locked(tx, id), fields, now);
      await tx.updateApplication(after);
      return after;
    });
  }

  /**
   * A policy change over the application's users in ranges of about
   * `batchSize` sessions, one transaction each holding the application's
   * exclusive lock: row locks are then held for one batch's time, not the
   * whole change's, and issuances of the application wait at most that
   * long. A user's sessions all fall in one range, so the per-user limit is
   * judged whole; one `now` for every batch. Revocations are published after
   * each batch commits.
   */
  private async applyInBatches(
    id: string,
    now: Date,
    actor: string,
    commit: boolean,
    policyOf: (tx: ApplicationTx) => Promise<Application>,
  ): Promise<PolicyReport> {
    const cuts = await this.deps.store.userBoundaries(id, this.deps.batchSize ?? DEFAULT_BATCH);
    const ranges: UserRange[] = [...cuts, null].map((upTo, i) => ({ after: i === 0 ? null : cuts[i - 1]!, upTo }));
    const total: PolicyReport = { sessionsEnded: 0, sessionsShortened: 0, usersOverLimit: 0, sample: [] };
    const ended: string[] = [];
    const other: string[] = [];
    for (const users of ranges) {
      const { report, revocations, endedIds } = await this.deps.store.withApplication(id, commit, async (tx) =>
        this.applyPolicy(tx, await policyOf(tx), now, actor, users),
      );
      if (commit) await this.publish(revocations);
      total.sessionsEnded += report.sessionsEnded;
      total.sessionsShortened += report.sessionsShortened;
      total.usersOverLimit += report.usersOverLimit;
      const endedHere = new Set(endedIds);
      for (const sid of report.sample) (endedHere.has(sid) ? ended : other).push(sid);
    }
    total.sample = [...ended, ...other].slice(0, SAMPLE);
    return total;
  }

  /** Deletes an application and revokes its sessions (reason `admin`: an operator ended them, as DELETE /admin/sessions/:id does). */
  async remove(id: string, actor: string): Promise<number> {
    if (id === DEFAULT_APPLICATION_ID) throw conflict("the default application cannot be deleted");
    const now = this.deps.clock.now();
    const { revocations, count } = await this.deps.store.withApplication(id, true, async (tx) => {
      await this.locked(tx, id);
      const revoked = await tx.revokeApplicationSessions(id, now, "admin", actor);
      const entries = await recordRevokedSessions(tx, revoked, now, "admin", actor);
      await tx.deleteApplication(id);
      await tx.audit({ type: "application_deleted", actor, detail: { application_id: id, sessions_revoked: revoked.length } }, now);
      return { revocations: entries, count: revoked.length };
    });
    await this.publish(revocations);
    await this.deps.changed?.();
    return count;
  }

  /**
   * The policy change proper, inside the application's transaction: the
   * set-based rewrite of its live sessions, then the ended sessions' events
   * and entries exactly as any revocation records them, and for sessions
   * kept whose current access token outlives the new limits, an entry that
   * stops every token of theirs issued before now (SPEC §10: no access
   * token issued before the change outlives the new limits).
   */
  private async applyPolicy(tx: ApplicationTx, app: Application, now: Date, actor: string, users: UserRange) {
    const effect: PolicyEffect = await tx.applyPolicy({
      applicationId: app.id,
      policy: this.resolved(app),
      ...sessionLifetimeColumns(app.policy),
      transports: app.transports,
      now,
      actor,
      users,
    });
    const ended = await recordRevokedSessions(tx, effect.ended, now, "policy", actor);
    const cut = await tx.insertRevocationBatch(
      effect.accessCut.map((s) => revocationEntryBefore(s, now)),
      now,
    );
    const report: PolicyReport = {
      sessionsEnded: effect.ended.length,
      sessionsShortened: effect.sessionsShortened,
      usersOverLimit: effect.usersOverLimit,
      sample: effect.sample,
    };
    return { report, revocations: [...ended, ...cut] as RevocationCommit, endedIds: effect.ended.map((e) => e.id) };
  }

  private async locked(tx: ApplicationTx, id: string): Promise<Application> {
    const app = APPLICATION_ID.test(id) ? await tx.lockApplication(id) : null;
    if (!app) throw notFound("no such application");
    return app;
  }

  private merged(before: Application, fields: ParsedFields, now: Date): Application {
    if (before.id === DEFAULT_APPLICATION_ID && fields.policy && Object.values(fields.policy).some((v) => v !== null))
      throw conflict("the default application follows the service-wide defaults (SPEC §9); set those in the environment");
    const after: Application = {
      ...before,
      ...(fields.name !== undefined ? { name: fields.name } : {}),
      ...(fields.transports !== undefined ? { transports: fields.transports } : {}),
      ...(fields.origins !== undefined ? { origins: fields.origins } : {}),
      policy: dropNulls({ ...before.policy, ...(fields.policy ?? {}) }),
      updatedAt: now,
    };
    this.checkPolicy(after);
    return after;
  }

  private checkPolicy(app: Application): void {
    const problem = policyProblem(this.resolved(app), this.deps.serviceAccessTokenTtlMs);
    if (problem) throw invalidRequest(problem);
  }

  /** Validates the fields given; absent ones stay undefined. */
  private fields(input: ApplicationFields): ParsedFields {
    const out: ParsedFields = {};
    if (input.name !== undefined) {
      if (typeof input.name !== "string" || input.name.trim().length === 0 || input.name.length > NAME_MAX)
        throw invalidRequest(`name must be 1 to ${NAME_MAX} characters`);
      out.name = input.name;
    }
    if (input.transports !== undefined) {
      const t = input.transports;
      if (!Array.isArray(t) || t.length === 0 || !t.every((x) => TRANSPORTS.includes(x as Transport)))
        throw invalidRequest("transports must be a non-empty list of cookie and bearer");
      out.transports = TRANSPORTS.filter((x) => t.includes(x));
    }
    if (input.origins !== undefined) {
      const o = input.origins;
      if (!Array.isArray(o) || o.length > ORIGINS_MAX) throw invalidRequest(`origins must be a list of at most ${ORIGINS_MAX} origins`);
      const origins: string[] = [];
      for (const x of o) {
        const origin = typeof x === "string" && x.length <= ORIGIN_MAX ? normalizeOrigin(x) : null;
        // The value is input: not repeated.
        if (origin === null) throw invalidRequest("each origin must be scheme://host[:port], with no path, query or credentials");
        if (!origins.includes(origin)) origins.push(origin);
      }
      out.origins = origins;
    }
    if (input.policy !== undefined) {
      const p = input.policy;
      if (typeof p !== "object" || p === null || Array.isArray(p)) throw invalidRequest("policy must be an object");
      const parsed = parsePolicy(p as PolicyInput);
      if ("problem" in parsed) throw invalidRequest(parsed.problem);
      out.policy = parsed.policy;
    }
    return out;
  }

  private async publish(revocations: RevocationCommit): Promise<void> {
    for (let i = 0; i < revocations.length; i += PUBLISH_CHUNK) await this.deps.publisher.publish(revocations.slice(i, i + PUBLISH_CHUNK));
  }
}

interface ParsedFields {
  name?: string;
  transports?: Transport[];
  origins?: string[];
  policy?: PolicyOverrides;
}

/** Stored overrides: a null field is the same as an absent one (the service-wide default). */
function dropNulls(p: PolicyOverrides): PolicyOverrides {
  return Object.fromEntries(Object.entries(p).filter(([, v]) => v !== null && v !== undefined)) as PolicyOverrides;
}

const updatedEvent = (before: Application, after: Application, effect: PolicyReport | null, actor: string) => ({
  type: "application_updated",
  actor,
  detail: { application_id: after.id, before: wire(before), after: wire(after), ...(effect ? { effect: reportView(effect) } : {}) },
});

const wire = (a: Application) => ({ name: a.name, transports: a.transports, origins: a.origins, policy: policyToWire(a.policy) });

export const reportView = (r: PolicyReport) => ({
  sessions_ended: r.sessionsEnded,
  sessions_shortened: r.sessionsShortened,
  users_over_limit: r.usersOverLimit,
  sample: r.sample,
});

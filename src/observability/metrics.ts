import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import type { AuditEventInput } from "../domain/types.js";
import type { RedisState } from "../storage/redis/redis-state.js";

export interface MetricSources {
  outboxDepth?: () => Promise<number>;
  mirrorSize?: () => number;
  mirrorTrusted?: () => boolean;
  /** The Redis in use, probed at each scrape; undefined without Redis. */
  redisState?: () => Promise<RedisState | undefined>;
}

/**
 * Prometheus metrics (SPEC §5 /metrics). Domain code never imports this:
 * security events reach it through the audit stream (see event-tap.ts), HTTP
 * timings through an onResponse hook, gauges through collect callbacks.
 */
export function createMetrics(opts: MetricSources = {}) {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: "session_authority_" });
  const counter = (name: string, help: string, labelNames: string[] = []) =>
    new Counter({ name: `session_authority_${name}`, help, labelNames, registers: [registry] });

  const logins = counter("logins_total", "Logins by result", ["result"]);
  const refreshes = counter("refreshes_total", "Refresh rotations");
  const reuse = counter("refresh_reuse_detected_total", "Rotated refresh tokens presented after the grace window");
  const revocations = counter("revocations_total", "Sessions revoked, by reason", ["reason"]);
  const userRevocations = counter("user_revocations_total", "User-wide revocations, by reason", ["reason"]);
  const deviceChanges = counter("device_changes_total", "Device changes seen on refresh, by action", ["action"]);
  const introspections = counter("introspections_total", "Introspection answers, by result", ["result"]);
  const forwardAuths = counter("forward_auth_total", "Forward-authentication answers, by outcome", ["outcome"]);
  const rateLimited = counter("rate_limit_hits_total", "Requests refused by a rate limit, by limit", ["limit"]);
  const latency = new Histogram({
    name: "session_authority_http_request_duration_seconds",
    help: "Request latency by route and status class",
    labelNames: ["method", "route", "status"],
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  });
  new Gauge({
    name: "session_authority_revocation_outbox_depth",
    help: "Revocations committed to Postgres but not yet published to Redis",
    registers: [registry],
    async collect() {
      if (opts.outboxDepth) this.set(await opts.outboxDepth().catch(() => -1));
    },
  });
  new Gauge({
    name: "session_authority_revocation_list_entries",
    help: "Live entries in this instance's revocation mirror",
    registers: [registry],
    collect() {
      if (opts.mirrorSize) this.set(opts.mirrorSize());
    },
  });
  new Gauge({
    name: "session_authority_revocation_mirror_leased",
    help: "1 while this instance holds a mirror lease and answers introspection from its mirror alone; 0 while it asks Redis or Postgres",
    registers: [registry],
    collect() {
      if (opts.mirrorTrusted) this.set(opts.mirrorTrusted() ? 1 : 0);
    },
  });

  // One probe per scrape feeds all three Redis gauges.
  let probe: Promise<RedisState | undefined> | undefined;
  const redisProbe = () =>
    (probe ??= (opts.redisState?.() ?? Promise.resolve(undefined)).finally(() => setTimeout(() => (probe = undefined), 0)));
  new Gauge({
    name: "session_authority_redis_up",
    help: "1 while every Redis master in use answers, 0 while degraded; absent without Redis",
    registers: [registry],
    async collect() {
      const state = await redisProbe().catch(() => undefined);
      this.reset();
      if (state) this.set(state.ok ? 1 : 0);
    },
  });
  new Gauge({
    name: "session_authority_redis_master",
    help: "The Redis masters in use (Sentinel: the current master; Cluster: those owning slots), 1 reachable, 0 not",
    labelNames: ["mode", "address"],
    registers: [registry],
    async collect() {
      const state = await redisProbe().catch(() => undefined);
      this.reset();
      for (const m of state?.masters ?? []) this.set({ mode: state!.mode, address: m.address }, m.reachable ? 1 : 0);
    },
  });
  new Gauge({
    name: "session_authority_redis_masters_reachable",
    help: "How many of the Redis masters in use answer",
    registers: [registry],
    async collect() {
      const state = await redisProbe().catch(() => undefined);
      this.reset();
      if (state) this.set(state.masters.filter((m) => m.reachable).length);
    },
  });

  // Labelled children looked up once: label hashing is measurable on the introspection path.
  // Bounded: routes are registered patterns (or "unmatched"), methods those Node's parser knows.
  const latencyByLabels = new Map<string, ReturnType<typeof latency.labels>>();
  const introspectedActive = introspections.labels({ result: "active" });
  const introspectedInactive = introspections.labels({ result: "inactive" });
  const forwardAuthByOutcome = new Map(
    ["allow", "no_token", "invalid_token", "forbidden"].map((o) => [o, forwardAuths.labels({ outcome: o })]),
  );

  return {
    registry,
    /** Counts a committed security event. */
    observe(event: AuditEventInput): void {
      const d = event.detail ?? {};
      switch (event.type) {
        case "login_success":
          logins.inc({ result: "success" });
          break;
        case "login_failure":
          logins.inc({ result: "failure" });
          break;
        case "refresh":
          refreshes.inc();
          break;
        case "refresh_reuse_detected":
          reuse.inc();
          break;
        case "session_revoked":
          revocations.inc({ reason: String(d.reason ?? "unknown") });
          break;
        case "user_sessions_revoked":
          userRevocations.inc({ reason: String(d.reason ?? "unknown") });
          break;
        case "device_change":
          deviceChanges.inc({ action: String(d.action ?? "unknown") });
          break;
        case "rate_limited":
          rateLimited.inc({ limit: String(d.limit ?? "unknown") });
          break;
      }
    },
    introspection(result: "active" | "inactive"): void {
      (result === "active" ? introspectedActive : introspectedInactive).inc();
    },
    forwardAuth(outcome: "allow" | "no_token" | "invalid_token" | "forbidden"): void {
      forwardAuthByOutcome.get(outcome)!.inc();
    },
    request(method: string, route: string, status: number, seconds: number): void {
      const statusClass = Math.floor(status / 100);
      const key = `${method} ${route} ${statusClass}`;
      let child = latencyByLabels.get(key);
      if (!child) {
        child = latency.labels({ method, route, status: `${statusClass}xx` });
        latencyByLabels.set(key, child);
      }
      child.observe(seconds);
    },
  };
}

export type Metrics = ReturnType<typeof createMetrics>;

import { Counter, Gauge, Registry, collectDefaultMetrics } from "prom-client";
import type { AuditEventInput } from "../domain/types.js";
import { LatencyHistogram } from "./latency-histogram.js";
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
  // The two hot paths count into plain numbers, added to their counters when scraped (collect):
  // a labelled prom-client inc() validates and hashes its labels on every call.
  const introspected = { active: 0, inactive: 0 };
  const forwardAuthed = { allow: 0, no_token: 0, invalid_token: 0, forbidden: 0 };
  const flushInto = <K extends string>(label: string, pending: Record<K, number>) =>
    function (this: Counter) {
      for (const k of Object.keys(pending) as K[]) {
        if (pending[k] > 0) this.inc({ [label]: k }, pending[k]);
        pending[k] = 0;
      }
    };
  new Counter({
    name: "session_authority_introspections_total",
    help: "Introspection answers, by result",
    labelNames: ["result"],
    registers: [registry],
    collect: flushInto("result", introspected),
  });
  new Counter({
    name: "session_authority_forward_auth_total",
    help: "Forward-authentication answers, by outcome",
    labelNames: ["outcome"],
    registers: [registry],
    collect: flushInto("outcome", forwardAuthed),
  });
  const rateLimited = counter("rate_limit_hits_total", "Requests refused by a rate limit, by limit", ["limit"]);
  const latency = new LatencyHistogram(
    "session_authority_http_request_duration_seconds",
    "Request latency by route and status class",
    [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registry,
  );
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
  const latencyByLabels = new Map<string, Map<string, Array<ReturnType<typeof latency.series>>>>();

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
      introspected[result]++;
    },
    forwardAuth(outcome: "allow" | "no_token" | "invalid_token" | "forbidden"): void {
      forwardAuthed[outcome]++;
    },
    request(method: string, route: string, status: number, seconds: number): void {
      const statusClass = Math.floor(status / 100);
      // Nested by strings the server reuses (method, route pattern): no key string is built per request.
      let byRoute = latencyByLabels.get(method);
      if (!byRoute) latencyByLabels.set(method, (byRoute = new Map()));
      let byClass = byRoute.get(route);
      if (!byClass) byRoute.set(route, (byClass = []));
      let series = byClass[statusClass];
      if (!series) byClass[statusClass] = series = latency.series({ method, route, status: `${statusClass}xx` });
      series.observe(seconds);
    },
  };
}

export type Metrics = ReturnType<typeof createMetrics>;

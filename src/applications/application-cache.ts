import { type Application, type ApplicationPolicy, resolvePolicy } from "../domain/applications.js";

export interface ApplicationSource {
  list(): Promise<Application[]>;
}

export interface ResolvedApplication extends Application {
  /** resolvePolicy of the service-wide defaults and the application's fields. */
  resolved: ApplicationPolicy;
}

/**
 * Every application in memory, so that no request pays a query to learn its
 * application's policy (the table is small: one row per client app). Each
 * instance reloads the whole table on a short period and at once after a
 * write it made; an id it does not know triggers one reload (at most one
 * every `missReloadMs`), so an application created on another instance is
 * usable there immediately. The lifetimes that bound tokens do not depend on
 * this cache: they are copied onto each session and rewritten under locks by
 * a policy change (storage/applications).
 */
export class ApplicationCache {
  private byId = new Map<string, ResolvedApplication>();
  private loading: Promise<void> | null = null;
  private lastLoad = 0;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly source: ApplicationSource,
    private readonly defaults: ApplicationPolicy,
    private readonly options: { reloadEveryMs?: number; missReloadMs?: number; now?: () => number } = {},
  ) {}

  /** Loads the table, then keeps reloading it until close(). */
  async start(): Promise<void> {
    await this.reload();
    const every = this.options.reloadEveryMs ?? 2000;
    this.timer = setInterval(() => void this.reload().catch(() => {}), every);
    this.timer.unref();
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** Reads the table again; concurrent callers share one read. */
  reload(): Promise<void> {
    this.loading ??= (async () => {
      try {
        const apps = await this.source.list();
        this.byId = new Map(apps.map((a) => [a.id, { ...a, resolved: resolvePolicy(this.defaults, a.policy) }]));
        this.lastLoad = this.now();
      } finally {
        this.loading = null;
      }
    })();
    return this.loading;
  }

  /** The application as last loaded, or undefined. */
  get(id: string): ResolvedApplication | undefined {
    return this.byId.get(id);
  }

  /** The application, reading the table once more if this instance does not know the id yet. */
  async lookup(id: string): Promise<ResolvedApplication | undefined> {
    const hit = this.byId.get(id);
    if (hit || this.now() - this.lastLoad < (this.options.missReloadMs ?? 250)) return hit;
    await this.reload();
    return this.byId.get(id);
  }

  /** The resolved policy of an application; the defaults' for one this instance does not know (it was deleted). */
  policyOf(id: string): ApplicationPolicy {
    return this.byId.get(id)?.resolved ?? this.defaults;
  }

  all(): ResolvedApplication[] {
    return [...this.byId.values()];
  }

  private now(): number {
    return (this.options.now ?? Date.now)();
  }
}

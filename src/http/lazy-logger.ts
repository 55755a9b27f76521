import type { FastifyBaseLogger } from "fastify";
import type { Bindings, ChildLoggerOptions, LevelWithSilentOrString } from "pino";

type Level = "fatal" | "error" | "warn" | "info" | "debug" | "trace";
type LogFn = (...args: unknown[]) => void;

/**
 * Fastify makes a child logger for every request; pino's child() serialises
 * its bindings (the request id) and sets up redaction at once. Most requests
 * of the hot paths (introspection) never log above the configured level, so
 * this child is made on the first enabled log call instead.
 */
class LazyChildLogger {
  #real: FastifyBaseLogger | undefined;

  constructor(
    private readonly parent: FastifyBaseLogger,
    private readonly childBindings: Bindings,
    private readonly childOptions: ChildLoggerOptions,
  ) {}

  get level(): LevelWithSilentOrString {
    return this.parent.level;
  }

  set level(level: LevelWithSilentOrString) {
    this.real().level = level;
  }

  child(bindings: Bindings, options?: ChildLoggerOptions): FastifyBaseLogger {
    return this.real().child(bindings, options);
  }

  isLevelEnabled(level: string): boolean {
    return (this.parent as { isLevelEnabled?: (l: string) => boolean }).isLevelEnabled?.(level) ?? true;
  }

  bindings(): Bindings {
    return { ...(this.parent as { bindings?: () => Bindings }).bindings?.(), ...this.childBindings };
  }

  fatal(...args: unknown[]): void {
    this.write("fatal", args);
  }
  error(...args: unknown[]): void {
    this.write("error", args);
  }
  warn(...args: unknown[]): void {
    this.write("warn", args);
  }
  info(...args: unknown[]): void {
    this.write("info", args);
  }
  debug(...args: unknown[]): void {
    this.write("debug", args);
  }
  trace(...args: unknown[]): void {
    this.write("trace", args);
  }
  silent(): void {}

  private write(level: Level, args: unknown[]): void {
    if (this.isLevelEnabled(level)) (this.real()[level] as LogFn)(...args);
  }

  private real(): FastifyBaseLogger {
    return (this.#real ??= this.parent.child(this.childBindings, this.childOptions));
  }
}

/** Fastify's `childLoggerFactory`: the per-request logger, created lazily. */
export function lazyChildLoggerFactory(logger: FastifyBaseLogger, bindings: Bindings, opts: ChildLoggerOptions): FastifyBaseLogger {
  return new LazyChildLogger(logger, bindings, opts) as unknown as FastifyBaseLogger;
}

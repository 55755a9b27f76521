/**
 * Everything a benchmark starts registers its undo here; closing the scope
 * runs them newest first, even after a failure, so a run leaves no process,
 * database or Redis key behind.
 */
export class Scope {
  private readonly undo: Array<{ label: string; fn: () => Promise<unknown> | unknown }> = [];
  private closed = false;

  defer(label: string, fn: () => Promise<unknown> | unknown): void {
    if (this.closed) throw new Error(`scope already closed (registering ${label})`);
    this.undo.push({ label, fn });
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const { label, fn } of this.undo.splice(0).reverse()) {
      try {
        await fn();
      } catch (err) {
        process.stderr.write(`cleanup of ${label} failed: ${err instanceof Error ? err.message : String(err)}\n`);
      }
    }
  }
}

/** Runs fn with a scope that is closed when fn settles. */
export async function withScope<T>(fn: (scope: Scope) => Promise<T>): Promise<T> {
  const scope = new Scope();
  active.add(scope);
  try {
    return await fn(scope);
  } finally {
    await scope.close();
    active.delete(scope);
  }
}

const active = new Set<Scope>();

/** Closes every open scope (on SIGINT/SIGTERM). */
export async function closeAllScopes(): Promise<void> {
  await Promise.all([...active].map((s) => s.close()));
}

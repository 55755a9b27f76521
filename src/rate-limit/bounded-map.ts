/**
 * A Map that keeps at most `maxEntries`, dropping the least recently written
 * first. A flood of distinct keys (one per spoofed username or address) can
 * then cost memory only up to the cap; the price is that such a flood can
 * push out an old entry, which the cap should be sized to make rare.
 */
export class BoundedMap<V> {
  private readonly entries = new Map<string, V>();

  constructor(readonly maxEntries: number) {
    if (!Number.isSafeInteger(maxEntries) || maxEntries < 1) throw new RangeError("maxEntries must be a positive integer");
  }

  get size(): number {
    return this.entries.size;
  }

  get(key: string): V | undefined {
    return this.entries.get(key);
  }

  /** Writes and marks the key most recent (a Map iterates in insertion order). */
  set(key: string, value: V): void {
    this.entries.delete(key);
    this.entries.set(key, value);
    if (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next();
      if (!oldest.done) this.entries.delete(oldest.value);
    }
  }

  delete(key: string): void {
    this.entries.delete(key);
  }
}

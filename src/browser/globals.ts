// The few browser APIs the client uses, typed here rather than pulling the
// DOM library into the whole project (the server shares its tsconfig). Each
// is looked up when used: a missing one has a fallback.

/** Web Storage, or anything with its three methods (the caller's storage in bearer mode). */
export interface KeyValueStorage {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

interface LockManager {
  request<T>(name: string, options: { mode: "exclusive" }, callback: () => Promise<T>): Promise<T>;
}

interface BrowserGlobals {
  navigator?: { locks?: LockManager };
  localStorage?: KeyValueStorage;
  location?: { origin: string };
  document?: { cookie: string };
  addEventListener?: (type: "storage", listener: (e: { key: string | null; newValue: string | null }) => void) => void;
}

const g = globalThis as unknown as BrowserGlobals;

export const webLocks = (): LockManager | undefined => g.navigator?.locks;

/** localStorage, or undefined where it is missing or refused (private modes, sandboxed frames). */
export function localStore(): KeyValueStorage | undefined {
  try {
    const s = g.localStorage;
    if (!s) return undefined;
    s.getItem("sa:probe");
    return s;
  } catch {
    return undefined;
  }
}

export const pageOrigin = (): string | undefined => g.location?.origin;

/** The page's cookies, where it may read them (same-origin deployments). */
export function readableCookie(name: string): string | undefined {
  try {
    for (const part of (g.document?.cookie ?? "").split(";")) {
      const [k, ...v] = part.trim().split("=");
      if (k === name) return decodeURIComponent(v.join("="));
    }
  } catch {
    // a document without cookie access
  }
  return undefined;
}

export function onStorage(listener: (key: string | null, value: string | null) => void): void {
  g.addEventListener?.("storage", (e) => listener(e.key, e.newValue));
}

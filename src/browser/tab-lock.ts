import { localStore, webLocks, type KeyValueStorage } from "./globals.js";

/** Runs `work` while no other tab of the origin runs work under the same name. */
export type TabLock = <T>(work: () => Promise<T>) => Promise<T>;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Web Locks where the browser has them. Elsewhere a lease in localStorage
 * (write, wait, read back: the last writer wins, and only it proceeds),
 * renewed while the work runs and taken over once it lapses, so a tab
 * closed mid-refresh cannot block the others. With neither, one tab's calls
 * still run one at a time.
 */
export function tabLock(name: string): TabLock {
  const local = inTabQueue();
  return (work) => {
    const locks = webLocks();
    if (locks) return locks.request(name, { mode: "exclusive" }, work);
    const store = localStore();
    return local(store ? () => withLease(store, name, work) : work);
  };
}

function inTabQueue(): TabLock {
  let tail: Promise<unknown> = Promise.resolve();
  return (work) => {
    const run = tail.then(work, work);
    tail = run.catch(() => undefined);
    return run;
  };
}

const LEASE_MS = 3_000;
const SETTLE_MS = 30;

async function withLease<T>(store: KeyValueStorage, name: string, work: () => Promise<T>): Promise<T> {
  const key = `${name}:lease`;
  const me = `${Date.now()}:${Math.random().toString(36).slice(2)}`;
  const holder = () => {
    try {
      return JSON.parse(store.getItem(key) ?? "null") as { owner: string; until: number } | null;
    } catch {
      return null;
    }
  };
  const claim = () => store.setItem(key, JSON.stringify({ owner: me, until: Date.now() + LEASE_MS }));
  for (;;) {
    const h = holder();
    if (!h || h.until < Date.now()) {
      claim();
      await sleep(SETTLE_MS);
      if (holder()?.owner === me) break;
    } else {
      await sleep(25 + Math.random() * 50);
    }
  }
  const renew = setInterval(() => holder()?.owner === me && claim(), LEASE_MS / 3);
  try {
    return await work();
  } finally {
    clearInterval(renew);
    if (holder()?.owner === me) store.removeItem(key);
  }
}

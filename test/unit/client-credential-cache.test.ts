// The in-process cache of verified client credentials (src/domain/client-service.ts):
// introspection's hot path must never wait for the store while a client calls
// steadily, and must never keep a deleted client or a replaced secret alive
// longer than the TTL.
import t from "tap";
import { createClientSecretHasher } from "../../src/clients/client-secrets.js";
import type { ServiceClientRecord, ServiceClientStore } from "../../src/domain/client-ports.js";
import { ClientService } from "../../src/domain/client-service.js";
import type { PasswordHasher } from "../../src/domain/ports.js";
import { FakeClock } from "../fixtures/clock.js";

const noPasswords: PasswordHasher = {
  hash: async () => "unused",
  verify: async () => false,
  verifyDummy: async () => {},
};

/** A store that counts reads and can hold them until released. */
function countingStore() {
  const rows = new Map<string, ServiceClientRecord>();
  let reads = 0;
  let gate: Promise<void> | undefined;
  const store: ServiceClientStore = {
    async findLive(id) {
      reads++;
      const row = rows.get(id);
      await gate;
      return row && !row.deletedAt ? { ...row } : null;
    },
    async insert(c) {
      rows.set(c.id, { ...c });
    },
    async upsert(c) {
      rows.set(c.id, { ...c });
    },
    async update(id, patch) {
      const row = rows.get(id);
      if (!row) return false;
      rows.set(id, { ...row, ...patch });
      return true;
    },
    async count() {
      return rows.size;
    },
  };
  return {
    store,
    reads: () => reads,
    hold() {
      let release!: () => void;
      gate = new Promise((r) => (release = r));
      return () => {
        gate = undefined;
        release();
      };
    },
  };
}

async function setup() {
  const clock = new FakeClock();
  const s = countingStore();
  const clients = new ClientService({
    store: s.store,
    secrets: createClientSecretHasher(noPasswords),
    audit: { record: async () => {} },
    clock,
    cacheTtlMs: 1_000,
  });
  const { client, secret } = await clients.create("sibling", ["introspect"], "test");
  return { clock, clients, id: client.id, secret, ...s };
}

const settle = () => new Promise((r) => setImmediate(r));

t.test("concurrent misses for one credential share a single store read", async (t) => {
  const { clients, id, secret, reads, hold } = await setup();
  const release = hold();
  const all = Promise.all(Array.from({ length: 32 }, () => clients.authenticate(id, secret)));
  release();
  const answers = await all;
  t.equal(reads(), 1, "32 callers, one read");
  t.ok(answers.every((a) => a.id === id));
});

t.test("a credential in the second half of its life is re-verified in the background, once", async (t) => {
  const { clock, clients, id, secret, reads } = await setup();
  await clients.authenticate(id, secret);
  t.equal(reads(), 1);
  clock.advance(400);
  t.ok(clients.cached(id, secret), "first half: served from memory");
  await settle();
  t.equal(reads(), 1, "no re-verification yet");
  clock.advance(200);
  for (let i = 0; i < 10; i++) t.ok(clients.cached(id, secret), "second half: still served at once");
  await settle();
  t.equal(reads(), 2, "one background re-verification for ten calls");
  clock.advance(900);
  t.ok(clients.cached(id, secret), "the re-verified entry lives on past the first one's expiry");
});

t.test("a deleted client stops working within the TTL even while it calls steadily", async (t) => {
  const { clock, clients, id, secret, store } = await setup();
  await clients.authenticate(id, secret);
  // Deleted by another instance: this one learns it only from the store.
  await store.update(id, { deletedAt: clock.now(), updatedAt: clock.now() });
  clock.advance(600);
  t.ok(clients.cached(id, secret), "still cached: the TTL has not run out");
  await settle();
  t.equal(clients.cached(id, secret), undefined, "the background re-verification dropped it");
  clock.advance(500);
  await t.rejects(clients.authenticate(id, secret), { code: "invalid_client" });
});

t.test("a secret rotated here during a background re-verification is not re-cached with the old secret", async (t) => {
  const { clock, clients, id, secret, hold } = await setup();
  await clients.authenticate(id, secret);
  clock.advance(600);
  const release = hold();
  t.ok(clients.cached(id, secret), "starts a re-verification that read the old row");
  await clients.rotateSecret(id, "test");
  release();
  await settle();
  await settle();
  t.equal(clients.cached(id, secret), undefined, "the old secret stopped working at once on this instance");
  await t.rejects(clients.authenticate(id, secret), { code: "invalid_client" });
});

t.test("a wrong secret neither passes nor evicts the right one", async (t) => {
  const { clients, id, secret, reads } = await setup();
  await clients.authenticate(id, secret);
  await t.rejects(clients.authenticate(id, "not-the-secret"), { code: "invalid_client" });
  t.equal(clients.cached(id, "not-the-secret"), undefined);
  t.ok(clients.cached(id, secret));
  t.equal(reads(), 2);
});

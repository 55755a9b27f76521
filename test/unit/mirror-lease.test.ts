// The mirror lease (src/revocation/mirror-lease.ts) and the revoker's wait
// (src/revocation/ack-waiter.ts), with a scripted bus and a fake monotonic clock.
import t from "tap";
import { AckWaiter, type LeaseHolder } from "../../src/revocation/ack-waiter.js";
import { MirrorLease, type LeaseBus } from "../../src/revocation/mirror-lease.js";

/** A bus whose fences come back only while `delivering`; records what happened in order. */
function scriptedBus() {
  const log: string[] = [];
  let lease: MirrorLease | undefined;
  const bus = {
    delivering: true,
    renewFails: false,
    beforeFenceBack: undefined as (() => void) | undefined,
    attach(l: MirrorLease) {
      lease = l;
    },
    async renew() {
      if (bus.renewFails) throw new Error("redis down");
      log.push("renew");
    },
    async fence(token: string) {
      log.push("fence");
      if (!bus.delivering) return;
      queueMicrotask(() => {
        bus.beforeFenceBack?.();
        lease!.fenceReceived(token);
      });
    },
    async release() {
      log.push("release");
    },
  } satisfies LeaseBus & Record<string, unknown>;
  return { bus, log };
}

function setup(opts: { leaseMs?: number; marginMs?: number } = {}) {
  const clock = { ms: 1_000 };
  const { bus, log } = scriptedBus();
  let catchUps = 0;
  const lease = new MirrorLease({
    bus,
    catchUp: async () => {
      catchUps++;
      log.push("catch-up");
    },
    leaseMs: opts.leaseMs ?? 2_000,
    renewEveryMs: 500,
    marginMs: opts.marginMs ?? 250,
    fenceTimeoutMs: 20,
    now: () => clock.ms,
  });
  bus.attach(lease);
  return { clock, bus, log, lease, catchUps: () => catchUps };
}

t.test("the mirror is trusted only after a lease and a fence that came back, and until the lease's end minus the margin", async (t) => {
  const { clock, lease, log } = setup();
  t.equal(lease.trusted(), false, "not before the first round");
  await lease.round();
  t.same(log, ["fence", "catch-up", "renew", "fence"], "first a fence proves the subscription, then the catch-up, then lease and fence");
  t.equal(lease.trusted(), true);
  clock.ms += 2_000 - 250 - 1;
  t.equal(lease.trusted(), true, "still within lease minus margin");
  clock.ms += 1;
  t.equal(lease.trusted(), false, "trust ends before the lease does");
});

t.test("a fence that never comes back grants no trust", async (t) => {
  const { bus, lease } = setup();
  bus.delivering = false;
  await lease.round();
  t.equal(lease.trusted(), false, "the subscription never proved itself");
  bus.delivering = true;
  await lease.round();
  t.equal(lease.trusted(), true);
});

t.test("losing the subscription ends trust at once and a catch-up comes before it is regained", async (t) => {
  const { lease, log, catchUps } = setup();
  await lease.round();
  t.equal(lease.trusted(), true);
  lease.subscriptionLost();
  t.equal(lease.trusted(), false, "distrusted the moment the subscription dropped");
  log.length = 0;
  await lease.round();
  t.same(log, ["fence", "catch-up", "renew", "fence"], "caught up from Postgres after the subscription was proven live again");
  t.equal(catchUps(), 2);
  t.equal(lease.trusted(), true);
});

t.test("a round during which the subscription dropped grants no trust, even if its fence came back", async (t) => {
  const { lease, bus } = setup();
  await lease.round();
  lease.subscriptionLost();
  // The loss lands between the lease renewal and the fence's return.
  let calls = 0;
  bus.beforeFenceBack = () => {
    if (++calls === 2) lease.subscriptionLost();
  };
  await lease.round();
  t.equal(lease.trusted(), false);
  bus.beforeFenceBack = undefined;
  await lease.round();
  t.equal(lease.trusted(), true, "the next clean round restores it");
});

t.test("a failed renewal grants nothing; trust from earlier rounds still runs out on time", async (t) => {
  const { clock, bus, lease } = setup();
  await lease.round();
  const granted = clock.ms;
  bus.renewFails = true;
  clock.ms += 1_000;
  await lease.round();
  t.equal(lease.trusted(), true, "the earlier lease still holds");
  clock.ms = granted + 2_000 - 250;
  t.equal(lease.trusted(), false, "and ends as it would have");
});

t.test("stop releases the lease and ends trust", async (t) => {
  const { lease, log } = setup();
  await lease.round();
  await lease.stop();
  t.equal(lease.trusted(), false);
  t.equal(log.at(-1), "release");
});

function waiterWith(holders: LeaseHolder[], registryAgeMs = 60_000) {
  const waiter = new AckWaiter({ selfId: "self", leaseMs: 200, registry: { leases: async () => ({ holders, registryAgeMs }) } });
  return { waiter };
}

t.test("a revoker waits for every other lease holder's acknowledgement", async (t) => {
  const { waiter } = waiterWith([
    { id: "self", remainingMs: 5_000 },
    { id: "b", remainingMs: 5_000 },
    { id: "c", remainingMs: 5_000 },
  ]);
  const ticket = waiter.ticket();
  waiter.acknowledged(ticket.tag, "b"); // an acknowledgement that beats the registry read counts
  let settled = false;
  const done = waiter.settle(ticket).then(() => (settled = true));
  await new Promise((r) => setTimeout(r, 30));
  t.equal(settled, false, "c has not acknowledged yet");
  waiter.acknowledged(ticket.tag, "c");
  const started = performance.now();
  await done;
  t.ok(
    performance.now() - started < 1_000,
    "ends as soon as the last holder acknowledged, long before the 5 s leases (it never waits for itself)",
  );
});

t.test("a holder that never acknowledges is waited for only until its lease runs out", async (t) => {
  const { waiter } = waiterWith([
    { id: "silent", remainingMs: 120 },
    { id: "acked", remainingMs: 5_000 },
  ]);
  const ticket = waiter.ticket();
  waiter.acknowledged(ticket.tag, "acked");
  const started = performance.now();
  await waiter.settle(ticket);
  const took = performance.now() - started;
  t.ok(took >= 115 && took < 1_000, `waited out the silent holder's lease, not the other's 5 s (${took.toFixed(0)} ms)`);
});

t.test("a registry younger than a lease may have lost leases: the revoker waits them out", async (t) => {
  const { waiter } = waiterWith([], 50);
  const ticket = waiter.ticket();
  const started = performance.now();
  await waiter.settle(ticket);
  const took = performance.now() - started;
  t.ok(took >= 145 && took < 1_000, `waited for the rest of a lease since the registry was born (${took.toFixed(0)} ms)`);
});

t.test("when the registry cannot be read the revoker waits a whole lease", async (t) => {
  const waiter = new AckWaiter({
    selfId: "self",
    leaseMs: 100,
    registry: {
      leases: async () => {
        throw new Error("redis down");
      },
    },
  });
  const started = performance.now();
  await waiter.settle(waiter.ticket());
  t.ok(performance.now() - started >= 95);
});

t.test("with no other holders and an old registry the revoker does not wait", async (t) => {
  const { waiter } = waiterWith([{ id: "self", remainingMs: 5_000 }]);
  const started = performance.now();
  await waiter.settle(waiter.ticket());
  t.ok(performance.now() - started < 1_000, "not its own 5 s lease");
});

import t from "tap";
import { randomBytesPooled } from "../../src/crypto/random-pool.js";

t.test("pooled random bytes are never handed out twice, across many refills", async (t) => {
  const seen = new Set<string>();
  let zeros = 0;
  let wrongLength = 0;
  const draws = 20_000; // 20 000 × 32 bytes: about 160 refills of the 4 KiB pool
  for (let i = 0; i < draws; i++) {
    const n = i % 3 === 0 ? 12 : 32;
    const b = randomBytesPooled(n);
    if (b.length !== n) wrongLength++;
    seen.add(b.toString("hex"));
    for (const byte of b) if (byte === 0) zeros++;
  }
  t.equal(wrongLength, 0, "every draw has the length asked for");
  t.equal(seen.size, draws, "every draw is distinct");
  // The pool wipes what it hands out: returning wiped bytes would show up as zeros.
  const total = Math.round(draws * (1 / 3) * 12 + draws * (2 / 3) * 32);
  t.ok(zeros < (total / 256) * 1.5, `zero bytes are as rare as chance makes them (${zeros} of ${total})`);
});

t.test("each draw is a buffer of its own", async (t) => {
  const a = randomBytesPooled(32);
  const copy = Buffer.from(a);
  const b = randomBytesPooled(32);
  b.fill(0);
  t.same(a, copy, "writing to a later draw leaves an earlier one alone");
  t.not(a.buffer === b.buffer && a.byteOffset === b.byteOffset, true);
});

t.test("requests larger than the pool's limit still get fresh bytes", async (t) => {
  const a = randomBytesPooled(1024);
  const b = randomBytesPooled(1024);
  t.equal(a.length, 1024);
  t.not(a.toString("hex"), b.toString("hex"));
});

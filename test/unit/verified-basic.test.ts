import t from "tap";
import { VerifiedBasicHeaders } from "../../src/clients/verified-basic.js";

const credential = (id: string) => ({ id, secret: `secret-${id}`, fingerprint: new Uint8Array(32) });

t.test("the memo of verified Basic headers is bounded, oldest first out, and forgets on request", async (t) => {
  const memo = new VerifiedBasicHeaders(2);
  memo.remember("Basic a", credential("a"));
  memo.remember("Basic b", credential("b"));
  memo.remember("Basic a", credential("a"));
  t.equal(memo.size, 2);
  memo.remember("Basic c", credential("c"));
  t.equal(memo.size, 2, "never above the bound");
  t.equal(memo.get("Basic a"), undefined, "the oldest went first");
  t.equal(memo.get("Basic b")?.id, "b");
  memo.forget("Basic b");
  t.equal(memo.get("Basic b"), undefined);
  t.equal(memo.get("Basic c")?.id, "c");
});

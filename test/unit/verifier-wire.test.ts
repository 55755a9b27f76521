// The verifier's building blocks without a network: the SSE parser, the
// revocation wire format, the revocation set, client authentication and the
// claims cache.
import t from "tap";
import { ClaimsCache } from "../../src/verifier/claims-cache.js";
import { basicAuthorization } from "../../src/verifier/http.js";
import { RevocationSet } from "../../src/verifier/revocation-set.js";
import { parseBatch, SyncProtocolError } from "../../src/verifier/revocation-wire.js";
import { SseParser, type SseEvent } from "../../src/verifier/sse.js";

function parse(chunks: string[], end = true): SseEvent[] {
  const events: SseEvent[] = [];
  const p = new SseParser((e) => events.push(e));
  for (const c of chunks) p.push(c);
  if (end) p.end();
  return events;
}

t.test("SSE: events, multi-line data, comments and every line ending (WHATWG HTML §9.2.6)", async (t) => {
  const stream = [
    ": a comment\n",
    'event: snapshot\r\ndata: {\r\ndata:   "a": 1\r\ndata: }\r\n\r\n',
    "event: revocation\rid: c2\rdata: x\r\r",
    "data\n\n",
    'event: heartbeat\ndata:{"cursor":"c2"}\nunknown: field\n\n',
  ].join("");
  const events = parse([stream]);
  t.same(events, [
    { event: "snapshot", data: '{\n  "a": 1\n}', id: undefined },
    { event: "revocation", data: "x", id: "c2" },
    { event: "message", data: "", id: "c2" },
    { event: "heartbeat", data: '{"cursor":"c2"}', id: "c2" },
  ]);
  t.same(parse(stream.split("")), events, "the same events when the stream arrives one character at a time");
  for (let cut = 1; cut < stream.length; cut++) {
    const split = parse([stream.slice(0, cut), stream.slice(cut)]);
    if (JSON.stringify(split) !== JSON.stringify(events)) t.fail(`split at ${cut} changes the result`);
  }
});

t.test("SSE: an event without data is not dispatched; an unfinished one is dropped at end of stream", async (t) => {
  t.same(parse(["event: heartbeat\n\n", "id: 7\n\n"]), []);
  t.same(parse(["event: snapshot\ndata: partial\n"]), [], "no blank line before the end: dropped");
  t.same(parse(["data: a\n\r"]), [{ event: "message", data: "a", id: undefined }], "a final lone CR ends the line");
});

t.test("SSE: a byte order mark, a space after the colon only once, retry and NUL ids", async (t) => {
  const events: SseEvent[] = [];
  const p = new SseParser((e) => events.push(e));
  p.push("\uFEFFdata:  two spaces\nid: ok\n\nid: bad\0id\nretry: 1500\nretry: soon\ndata: b\n\n");
  const retry = p.retryMs;
  t.same(events, [
    { event: "message", data: " two spaces", id: "ok" },
    { event: "message", data: "b", id: "ok" },
  ]);
  t.equal(retry, 1500, "a numeric retry is kept, a non-numeric one ignored");
});

t.test("SSE: a line or event beyond the bound fails instead of growing without end", async (t) => {
  const p = new SseParser(() => {}, 100);
  t.throws(() => p.push("data: " + "x".repeat(200)), /too long/);
  const q = new SseParser(() => {}, 100);
  t.throws(() => {
    for (let i = 0; i < 20; i++) q.push("data: 0123456789\n");
  }, /too large/);
});

t.test("wire format: batches are validated, and one malformed entry fails the whole batch", async (t) => {
  t.same(
    parseBatch({
      entries: [
        { sid: "s", exp: 10 },
        { sub: "u", exp: 20, not_before: 5, extra: true },
      ],
      cursor: "c1",
    }),
    {
      entries: [
        { sid: "s", exp: 10 },
        { sub: "u", exp: 20, not_before: 5 },
      ],
      cursor: "c1",
      bounds: {},
    },
    "unknown members are ignored",
  );
  t.same(
    parseBatch({ entries: [] }, "from-id"),
    { entries: [], cursor: "from-id", bounds: {} },
    "the SSE id stands in for a missing cursor",
  );
  t.same(
    parseBatch({ entries: [], cursor: "c", max_staleness: 5, max_token_lifetime: 300 }).bounds,
    { maxStalenessSec: 5, maxTokenLifetimeSec: 300 },
    "the server's bounds are read",
  );
  t.throws(() => parseBatch({ entries: [], cursor: "c", max_staleness: "soon" }), SyncProtocolError, "a malformed bound fails the batch");
  const bad: Array<[string, unknown]> = [
    ["no entries", { cursor: "c" }],
    ["no cursor", { entries: [] }],
    ["an empty cursor", { entries: [], cursor: "" }],
    ["an oversized cursor", { entries: [], cursor: "c".repeat(1025) }],
    ["both sid and sub", { entries: [{ sid: "s", sub: "u", exp: 1, not_before: 1 }], cursor: "c" }],
    ["neither sid nor sub", { entries: [{ exp: 1 }], cursor: "c" }],
    ["sub without not_before", { entries: [{ sub: "u", exp: 1 }], cursor: "c" }],
    ["a string exp", { entries: [{ sid: "s", exp: "1" }], cursor: "c" }],
    ["a non-finite exp", { entries: [{ sid: "s", exp: null }], cursor: "c" }],
    ["an empty sid", { entries: [{ sid: "", exp: 1 }], cursor: "c" }],
    ["an array body", [{ sid: "s", exp: 1 }]],
  ];
  for (const [name, body] of bad) t.throws(() => parseBatch(body), SyncProtocolError, name);
});

t.test("revocation set: sid entries, sub entries by iat < not_before, and expiry", async (t) => {
  const set = new RevocationSet();
  set.add(
    [
      { sid: "s1", exp: 1000 },
      { sub: "u1", not_before: 500, exp: 1100 },
      { sid: "gone", exp: 100 },
    ],
    200,
  );
  t.equal(set.size, 2, "an entry already expired when it arrives is skipped");
  t.equal(set.revokedBy("s1", "anyone", 0, 200), "sid");
  t.equal(set.revokedBy("s2", "u1", 499, 200), "sub", "issued before not_before");
  t.equal(set.revokedBy("s2", "u1", 500, 200), null, "issued at not_before: not before it");
  t.equal(set.revokedBy("s2", "u2", 0, 200), null);
  t.equal(set.revokedBy("s1", "u1", 0, 1000), "sub", "the sid entry is spent at its exp; the sub entry still stands");
  t.equal(set.revokedBy("s1", "u1", 0, 1100), null);

  set.add(
    [
      { sub: "u1", not_before: 700, exp: 1300 },
      { sid: "s1", exp: 900 },
    ],
    200,
  );
  t.equal(set.revokedBy("s2", "u1", 650, 1200), "sub", "merging keeps the later not_before and the later exp");
  t.equal(set.revokedBy("s1", "x", 0, 950), "sid", "and a sid keeps its later exp");
  set.prune(1300);
  t.equal(set.size, 0, "pruned once every entry's tokens have expired");
});

t.test("client authentication: RFC 6749 §2.3.1 form-encodes id and secret before Basic", async (t) => {
  const header = basicAuthorization("svc:orders api", "p@ss+/=ü:");
  t.match(header, /^Basic [A-Za-z0-9+/]+=*$/);
  const decoded = Buffer.from(header.slice(6), "base64").toString("utf8");
  t.equal(decoded, "svc%3Aorders+api:p%40ss%2B%2F%3D%C3%BC%3A", "colons inside id and secret cannot be confused with the separator");
  t.equal(Buffer.from(basicAuthorization("plain", "secret").slice(6), "base64").toString(), "plain:secret");
});

t.test("claims cache: bounded, least recently used first, and never past exp", async (t) => {
  const cache = new ClaimsCache<{ exp: number }>(2);
  cache.set("a", { claims: { exp: 100 }, kid: "k1" });
  cache.set("b", { claims: { exp: 100 }, kid: "k2" });
  t.ok(cache.get("a", 50), "a is used, so b is now the least recent");
  cache.set("c", { claims: { exp: 100 }, kid: "k1" });
  t.equal(cache.size, 2);
  t.notOk(cache.get("b", 50), "b was evicted");
  t.ok(cache.get("a", 50));
  t.notOk(cache.get("a", 100), "expired at exp (RFC 7519 §4.1.4)");
  t.equal(cache.size, 1, "and dropped");
  cache.set("d", { claims: { exp: 300 }, kid: "k2" });
  cache.retainKids(new Set(["k2"]));
  t.notOk(cache.get("c", 50), "entries of a withdrawn key go");
  t.ok(cache.get("d", 50));
  cache.prune(300);
  t.equal(cache.size, 0);
  const off = new ClaimsCache<{ exp: number }>(0);
  off.set("x", { claims: { exp: 100 }, kid: "k" });
  t.equal(off.size, 0, "a bound of 0 disables caching");
});

t.test("kid entries (SPEC §14 key compromise): parsed, honoured, and announced once for a JWKS refetch", async (t) => {
  t.same(parseBatch({ entries: [{ kid: "k1", exp: 200 }], cursor: "c" }).entries, [{ kid: "k1", exp: 200 }]);
  t.throws(() => parseBatch({ entries: [{ kid: "k1", sid: "s", exp: 200 }], cursor: "c" }), SyncProtocolError, "one subject per entry");
  t.throws(() => parseBatch({ entries: [{ kid: "", exp: 200 }], cursor: "c" }), SyncProtocolError);
  const announced: string[] = [];
  const set = new RevocationSet((kid) => announced.push(kid));
  set.add([{ kid: "k1", exp: 200 }], 100);
  set.add(
    [
      { kid: "k1", exp: 300 },
      { kid: "old", exp: 50 },
    ],
    100,
  );
  t.same(announced, ["k1"], "a new kid is announced once; an expired one not at all");
  t.equal(set.revokedBy("s", "u", 10, 150, "k1"), "kid");
  t.equal(set.revokedBy("s", "u", 10, 150, "k2"), null, "other keys' tokens pass");
  t.equal(set.revokedBy("s", "u", 10, 250, "k1"), "kid", "the later exp was kept");
  set.prune(300);
  t.equal(set.revokedBy("s", "u", 10, 300, "k1"), null, "gone once its tokens have expired");
  t.equal(set.size, 0);
});

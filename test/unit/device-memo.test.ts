import t from "tap";
import { memoizeDeviceParser } from "../../src/domain/device-memo.js";
import type { DeviceInfo } from "../../src/domain/types.js";

t.test(
  "the user-agent memo returns what the parser returns, parses each user agent once, stays bounded and hands out copies",
  async (t) => {
    const calls: Array<string | null> = [];
    const parse = (ua: string | null): DeviceInfo => {
      calls.push(ua);
      return ua === null ? { browser: null, os: null, type: null } : { browser: `b:${ua}`, os: "Linux", type: "desktop" };
    };
    const memo = memoizeDeviceParser(parse, 2);
    t.same(memo("a"), { browser: "b:a", os: "Linux", type: "desktop" });
    const first = memo("a");
    first.browser = "mutated";
    t.same(memo("a"), { browser: "b:a", os: "Linux", type: "desktop" }, "a caller's copy cannot change the cached value");
    t.same(calls, ["a"], "parsed once");
    memo("b");
    memo("c"); // evicts "a", the oldest
    memo("a");
    t.same(calls, ["a", "b", "c", "a"], "bounded: the oldest entry was dropped and parsed again");
    t.same(memo(null), { browser: null, os: null, type: null });
    memo(null);
    t.same(calls.filter((c) => c === null).length, 2, "no user agent is not cached (nothing to save)");
  },
);

import type { DeviceInfo } from "./types.js";

/**
 * Parsing a user agent runs dozens of regular expressions (about a tenth of
 * a refresh's CPU), while a deployment sees few distinct user agents. The
 * parse is pure, so its results are kept in a bounded map; once full, the
 * oldest entry goes (a flood of made-up user agents only costs the parse
 * again). Each caller gets its own copy, so no record aliases another.
 */
export function memoizeDeviceParser(
  parse: (userAgent: string | null) => DeviceInfo,
  maxEntries = 1000,
): (userAgent: string | null) => DeviceInfo {
  const cache = new Map<string, DeviceInfo>();
  return (userAgent) => {
    if (userAgent === null) return parse(null);
    let device = cache.get(userAgent);
    if (device === undefined) {
      device = parse(userAgent);
      if (cache.size >= maxEntries) cache.delete(cache.keys().next().value!);
      cache.set(userAgent, device);
    }
    return { ...device };
  };
}

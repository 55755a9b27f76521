import { UAParser } from "ua-parser-js";
import type { DeviceInfo } from "../domain/types.js";

/**
 * Parses a user agent into browser family, OS and device type (ua-parser-js
 * 1.x, MIT; 2.x is AGPL and not used). Desktop browsers report no device
 * type, so a known OS without one counts as "desktop".
 */
export function parseUserAgent(userAgent: string | null): DeviceInfo {
  if (!userAgent) return { browser: null, os: null, type: null };
  const r = new UAParser(userAgent.slice(0, 512)).getResult();
  const browser = r.browser.name ?? null;
  const os = r.os.name ?? null;
  const type = r.device.type ?? (os !== null ? "desktop" : null);
  return { browser, os, type };
}

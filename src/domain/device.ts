import type { DeviceChangePolicy } from "../config.js";
import type { DeviceInfo } from "./types.js";

export interface DeviceChange {
  /** 0 when nothing changed; higher is more suspicious. */
  score: number;
  /** What changed: "browser", "os", "device_type", "ip". */
  changes: string[];
  action: "revoke" | "flag" | "allow";
}

const WEIGHTS = { browser: 40, os: 40, device_type: 30, ip: 10 } as const;

/**
 * Scores a device change seen on refresh (SPEC §3). A changed browser family
 * or OS is revoked by default; a changed device type or IP alone is flagged
 * (mobile networks move IPs all the time). An explicit policy applies to every
 * change.
 */
export function assessDeviceChange(
  before: { device: DeviceInfo; ip: string | null },
  after: { device: DeviceInfo; ip: string | null },
  policy: DeviceChangePolicy | "default",
): DeviceChange {
  const changes: Array<keyof typeof WEIGHTS> = [];
  // Unknown on either side is no evidence of a change.
  const differs = (a: string | null, b: string | null) => a !== null && b !== null && a !== b;
  if (differs(before.device.browser, after.device.browser)) changes.push("browser");
  if (differs(before.device.os, after.device.os)) changes.push("os");
  if (differs(before.device.type, after.device.type)) changes.push("device_type");
  if (differs(before.ip, after.ip)) changes.push("ip");
  const score = changes.reduce((s, c) => s + WEIGHTS[c], 0);
  if (changes.length === 0) return { score, changes, action: "allow" };
  if (policy !== "default") return { score, changes, action: policy };
  const action = changes.includes("browser") || changes.includes("os") ? "revoke" : "flag";
  return { score, changes, action };
}

import { hashToken } from "../crypto/opaque-token.js";
import { deriveKey, seal, unseal } from "../crypto/seal.js";

/**
 * The successor of a rotated refresh token is kept sealed under a key derived
 * from the token it replaced: the database alone cannot yield a usable
 * refresh token, but a holder of the parent (a retrying client, a second tab)
 * gets the same successor back within the grace window.
 *
 * The sealed value is bound to its parent's row by that row's token hash,
 * which the one-statement rotation knows before it has read the row.
 */
const parentContext = (parentToken: string) => `parent:${Buffer.from(hashToken(parentToken)).toString("base64url")}`;

export function sealSuccessor(parentToken: string, successor: string): Uint8Array {
  return seal(deriveKey(parentToken, "refresh-successor"), Buffer.from(successor, "utf8"), parentContext(parentToken));
}

/**
 * Returns the successor, or null if the sealed value does not open with this
 * parent. Values sealed before the one-statement rotation are bound to the
 * parent's row id instead; they still open, so a retry across the upgrade
 * converges like any other.
 */
export function openSuccessor(parentToken: string, parentId: string, sealed: Uint8Array): string | null {
  const key = deriveKey(parentToken, "refresh-successor");
  for (const context of [parentContext(parentToken), parentId]) {
    try {
      return unseal(key, sealed, context).toString("utf8");
    } catch {
      // Not this context: try the next one.
    }
  }
  return null;
}

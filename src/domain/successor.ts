import { deriveKey, seal, unseal } from "../crypto/seal.js";

/**
 * The successor of a rotated refresh token is kept sealed under a key derived
 * from the token it replaced: the database alone cannot yield a usable
 * refresh token, but a holder of the parent (a retrying client, a second tab)
 * gets the same successor back within the grace window.
 *
 * The key, derived from the parent token, is what binds the sealed value to
 * its parent: no other token opens it. The one-statement rotation seals
 * before it knows the parent's row, so the row id is no longer part of it.
 */
export function sealSuccessor(parentToken: string, successor: string): Uint8Array {
  return seal(deriveKey(parentToken, "refresh-successor"), Buffer.from(successor, "utf8"));
}

/**
 * Returns the successor, or null if the sealed value does not open with this
 * parent. Values sealed by releases before the one-statement rotation also
 * carry the parent's row id as their context; they still open, so a retry
 * across the upgrade converges like any other. (The reverse does not hold:
 * see "Upgrading" in the README.)
 */
export function openSuccessor(parentToken: string, parentId: string, sealed: Uint8Array): string | null {
  const key = deriveKey(parentToken, "refresh-successor");
  for (const context of ["", parentId]) {
    try {
      return unseal(key, sealed, context).toString("utf8");
    } catch {
      // Not this context: try the next one.
    }
  }
  return null;
}

import { deriveKey, seal, unseal } from "../crypto/seal.js";

/**
 * The successor of a rotated refresh token is kept sealed under a key derived
 * from the token it replaced: the database alone cannot yield a usable
 * refresh token, but a holder of the parent (a retrying client, a second tab)
 * gets the same successor back within the grace window.
 */
export function sealSuccessor(parentToken: string, parentId: string, successor: string): Uint8Array {
  return seal(deriveKey(parentToken, "refresh-successor"), Buffer.from(successor, "utf8"), parentId);
}

/** Returns the successor, or null if the sealed value does not open with this parent. */
export function openSuccessor(parentToken: string, parentId: string, sealed: Uint8Array): string | null {
  try {
    return unseal(deriveKey(parentToken, "refresh-successor"), sealed, parentId).toString("utf8");
  } catch {
    return null;
  }
}

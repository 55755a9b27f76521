import { randomBytes } from "node:crypto";
import { chmod, mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";

/**
 * Embedded mode has no operator-supplied KEY_ENCRYPTION_KEY: one is generated
 * on first start and kept in the data folder, readable by its owner only.
 */
export async function embeddedKeyEncryptionKey(dataDir: string): Promise<string> {
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const path = join(dataDir, "key-encryption-key");
  try {
    const existing = (await readFile(path, "utf8")).trim();
    if (existing.length >= 32) return existing;
    throw new Error(`${path} is shorter than 32 characters`);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
  }
  const kek = randomBytes(32).toString("base64");
  // "wx": never overwrite a key another process wrote first.
  await writeFile(path, kek + "\n", { mode: 0o600, flag: "wx" }).catch(async (err: NodeJS.ErrnoException) => {
    if (err.code !== "EEXIST") throw err;
  });
  await chmod(path, 0o600);
  return (await readFile(path, "utf8")).trim();
}

/** Where a fresh embedded install leaves its first admin client's credentials. */
export const ADMIN_CREDENTIALS_FILE = "admin-client.env";

/**
 * Keeps the admin client a fresh embedded install created, as shell
 * assignments (`. ./data/admin-client.env`), so the README's walk-through and
 * the CLI find it while the service runs. Owner-only, beside the
 * key-encryption key that already lives there with the same trust.
 */
export async function saveAdminCredentials(dataDir: string, credentials: { id: string; secret: string }): Promise<string> {
  const path = join(dataDir, ADMIN_CREDENTIALS_FILE);
  await writeFile(path, `ADMIN_CLIENT_ID=${credentials.id}\nADMIN_CLIENT_SECRET=${credentials.secret}\n`, { mode: 0o600 });
  await chmod(path, 0o600);
  return path;
}

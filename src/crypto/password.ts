import { hash, verify } from "@node-rs/argon2";
import type { PasswordHasher } from "../domain/ports.js";

/** argon2id parameters (OWASP's recommended minimum: 19 MiB, t=2, p=1). */
export interface Argon2Params {
  memoryCost: number;
  timeCost: number;
  parallelism: number;
}

export const DEFAULT_ARGON2: Argon2Params = { memoryCost: 19_456, timeCost: 2, parallelism: 1 };

const ARGON2ID = 2; // @node-rs/argon2 Algorithm.Argon2id (a const enum, so not importable under isolatedModules)

/** Passwords hashed with argon2id (SPEC §6). */
export async function createPasswordHasher(params: Argon2Params = DEFAULT_ARGON2): Promise<PasswordHasher> {
  const options = { ...params, algorithm: ARGON2ID };
  // A real hash of a random password: verifying against it costs what a real
  // verification costs, so unknown users answer in similar time.
  const dummy = await hash(crypto.randomUUID(), options);
  return {
    hash: (password) => hash(password, options),
    verify: async (stored, password) => {
      try {
        return await verify(stored, password);
      } catch {
        return false;
      }
    },
    verifyDummy: async (password) => {
      await verify(dummy, password).catch(() => false);
    },
  };
}

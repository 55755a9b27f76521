import type { Clock } from "./clock.js";
import { invalidRequest } from "./errors.js";
import type { AuditLog, PasswordHasher, UserStore } from "./ports.js";
import type { UserRecord } from "./types.js";
import { normalizeUsername } from "./usernames.js";

export const PASSWORD_MIN = 8;
export const PASSWORD_MAX = 1024;

/** Creating built-in users (CLI, admin API). */
export class UserService {
  constructor(private readonly deps: { users: UserStore; passwords: PasswordHasher; audit: AuditLog; clock: Clock }) {}

  async create(username: string, password: string, actor: string): Promise<UserRecord> {
    const key = normalizeUsername(username);
    if (key.length === 0 || key.length > 128 || /[\p{Cc}\p{Cf}]/u.test(key)) {
      throw invalidRequest("username must be 1 to 128 printable characters");
    }
    if (password.length < PASSWORD_MIN || password.length > PASSWORD_MAX) {
      throw invalidRequest(`password must be ${PASSWORD_MIN} to ${PASSWORD_MAX} characters`);
    }
    const now = this.deps.clock.now();
    const user = await this.deps.users.create({
      id: crypto.randomUUID(),
      username: username.normalize("NFKC").trim(),
      usernameKey: key,
      passwordHash: await this.deps.passwords.hash(password),
      now,
    });
    await this.deps.audit.record({ type: "user_created", actor, userId: user.id, detail: { username: user.username } }, now);
    return user;
  }
}

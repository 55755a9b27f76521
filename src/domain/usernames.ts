/** The unique login key of a username: NFKC-normalised, trimmed and lower-cased, so "Alice" and "alice" are one user. */
export const normalizeUsername = (username: string): string => username.normalize("NFKC").trim().toLowerCase();

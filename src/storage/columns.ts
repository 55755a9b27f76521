/** Columns are bounded; client-supplied text is cut to fit rather than failing the request. */
export function truncate(value: string | null, max: number): string | null {
  return value === null ? null : value.length > max ? value.slice(0, max) : value;
}

/** The bounds of the session aggregate's text columns (the init migration). */
export const COLUMN = { ip: 64, userAgent: 512, uaBrowser: 64, uaOs: 64, uaDevice: 32, actor: 128 } as const;

// prisma/schema.prisma and the hand-written migrations must describe the same
// database: nothing runs `prisma migrate diff` here (no schema engine), so this
// compares the model Prisma compiled into the client with the migrated catalog,
// writes and reads every model back, and checks the transaction behaviour the
// domain relies on, on Postgres and on PGlite alike.
import { randomBytes, randomUUID } from "node:crypto";
import { readFile } from "node:fs/promises";
import t from "tap";
import type { Test } from "tap";
import type { Database } from "../../src/storage/database.js";
import type { Teardown } from "../fixtures/database.js";
import { freshEmbedded, freshPostgres } from "../fixtures/database.js";

interface RuntimeField { name: string; kind: string; type: string; dbName?: string | null }
type RuntimeDataModel = { models: Record<string, { dbName: string | null; fields: RuntimeField[] }> };

/** What the runtime data model leaves out, read from the schema file itself. */
interface FieldSyntax { optional: boolean; list: boolean; native?: string; args?: string; hasDefault: boolean; id: boolean; relation?: { field: string; model: string } }

function parseSchema(text: string): Map<string, Map<string, FieldSyntax>> {
  const models = new Map<string, Map<string, FieldSyntax>>();
  for (const [, model, body] of text.matchAll(/^model\s+(\w+)\s*\{([\s\S]*?)^\}/gm)) {
    const fields = new Map<string, FieldSyntax>();
    for (const raw of body!.split("\n")) {
      const line = raw.replace(/\/\/.*$/, "").trim();
      const m = /^(\w+)\s+(\w+)(\[\])?(\?)?(.*)$/.exec(line);
      if (!m) continue;
      const attrs = m[5]!;
      const native = /@db\.(\w+)(?:\(([^)]*)\))?/.exec(attrs);
      const rel = /fields:\s*\[(\w+)\]/.exec(attrs);
      fields.set(m[1]!, {
        list: !!m[3], optional: !!m[4], native: native?.[1], args: native?.[2],
        hasDefault: attrs.includes("@default("), id: /@id\b/.test(attrs),
        ...(rel ? { relation: { field: rel[1]!, model: m[2]! } } : {}),
      });
    }
    models.set(model!, fields);
  }
  return models;
}

/** The column type Prisma Migrate would create, as format_type() prints it. */
function expectedType(type: string, f: FieldSyntax): string {
  const typmod = f.args ? `(${f.args})` : "";
  const base: Record<string, string | undefined> = {
    String: ({ undefined: "text", Text: "text", Uuid: "uuid", VarChar: `character varying${typmod}`, Char: `character${typmod}` } as Record<string, string>)[String(f.native)],
    Boolean: "boolean", Int: "integer", BigInt: "bigint", Float: "double precision", Bytes: "bytea",
    Decimal: `numeric${typmod || "(65,30)"}`, Json: f.native === "Json" ? "json" : "jsonb",
    DateTime: f.native === "Timestamptz" ? `timestamp${typmod} with time zone` : f.native === "Date" ? "date" : `timestamp${typmod || "(3)"} without time zone`,
  };
  const t = base[type];
  if (!t) throw new Error(`no expectation for ${type} @db.${f.native}: extend expectedType()`);
  return f.list ? `${t}[]` : t;
}

const schema = parseSchema(await readFile(new URL("../../prisma/schema.prisma", import.meta.url), "utf8"));
const columnOf = (f: RuntimeField) => f.dbName ?? f.name;

function dataModel(db: Database): RuntimeDataModel {
  // The client keeps the model Prisma itself parsed (model -> table, field ->
  // column); it is internal, so fail loudly if a Prisma upgrade moves it.
  const dm = (db.prisma as unknown as { _runtimeDataModel?: RuntimeDataModel })._runtimeDataModel;
  if (!dm?.models) throw new Error("PrismaClient no longer exposes _runtimeDataModel");
  return dm;
}

async function catalogAgrees(t: Test, db: Database) {
  const dm = dataModel(db);
  const cols = await db.prisma.$queryRawUnsafe<{ table_name: string; column_name: string; is_nullable: string; column_default: string | null; type: string }[]>(
    `SELECT c.table_name::text, c.column_name::text, c.is_nullable::text, c.column_default::text,
            format_type(a.atttypid, a.atttypmod) AS type
       FROM information_schema.columns c
       JOIN pg_attribute a ON a.attrelid = format('%I.%I', c.table_schema, c.table_name)::regclass
                          AND a.attname = c.column_name
      WHERE c.table_schema = current_schema() AND c.table_name <> '_prisma_migrations'`,
  );
  const tables = new Set(cols.map((c) => c.table_name));
  t.strictSame([...tables].sort(), Object.values(dm.models).map((m) => m.dbName).sort(), "one table per model, no others");
  for (const [name, model] of Object.entries(dm.models)) {
    const syntax = schema.get(name);
    const scalars = model.fields.filter((f) => f.kind === "scalar");
    t.strictSame([...syntax!.keys()].sort(), model.fields.map((f) => f.name).sort(), `${name}: schema parser saw every field`);
    const actual = cols.filter((c) => c.table_name === model.dbName);
    t.strictSame(actual.map((c) => c.column_name).sort(), scalars.map(columnOf).sort(), `${name}: columns are the scalar fields`);
    for (const f of scalars) {
      const s = syntax!.get(f.name)!;
      const col = actual.find((c) => c.column_name === columnOf(f));
      // Prisma Migrate creates scalar lists as nullable arrays.
      t.strictSame(
        { type: col?.type, nullable: col?.is_nullable, hasDefault: col?.column_default != null },
        { type: expectedType(f.type, s), nullable: s.optional || s.list ? "YES" : "NO", hasDefault: s.hasDefault },
        `${name}.${f.name} -> ${model.dbName}.${columnOf(f)}`,
      );
    }
  }
  // Named indexes (@@index / @unique map:) and the real ones, both ways.
  const text = await readFile(new URL("../../prisma/schema.prisma", import.meta.url), "utf8");
  const named = [...text.matchAll(/map:\s*"([^"]+)"/g)].map((m) => m[1]!).sort();
  const indexes = await db.prisma.$queryRawUnsafe<{ name: string }[]>(
    `SELECT indexname::text AS name FROM pg_indexes WHERE schemaname = current_schema()
        AND tablename <> '_prisma_migrations' AND indexname NOT LIKE '%\\_pkey'`,
  );
  t.strictSame(indexes.map((i) => i.name).sort(), named, "indexes match the schema's");
}

/** A value for a field that stretches its column: full length, ms precision, non-defaults. */
function valueFor(type: string, f: FieldSyntax): unknown {
  const one = (): unknown => {
    switch (type) {
      case "String":
        return f.native === "Uuid" ? randomUUID() : (randomBytes(8).toString("hex") + "é".repeat(512)).slice(0, Number(f.args ?? 40));
      case "Boolean": return true;
      case "Int": return 1_000_000 + randomBytes(2).readUInt16BE();
      case "BigInt": return 2n ** 53n + BigInt(randomBytes(2).readUInt16BE());
      case "DateTime": return new Date(Date.UTC(2031, 1, 2, 3, 4, 5, 678) + randomBytes(2).readUInt16BE() * 1000);
      case "Bytes": return new Uint8Array(randomBytes(32));
      case "Json": return { nested: { list: [1, "two", true, null] }, text: "é" };
      default: throw new Error(`no sample value for ${type}: extend valueFor()`);
    }
  };
  return f.list ? [one(), one()] : one();
}

function normalise(v: unknown): unknown {
  if (v instanceof Date) return `date:${v.toISOString()}`;
  if (v instanceof Uint8Array) return `bytes:${Buffer.from(v).toString("hex")}`;
  if (typeof v === "bigint") return `bigint:${v}`;
  if (Array.isArray(v)) return v.map(normalise);
  return v;
}

type Delegate = {
  create(args: { data: Record<string, unknown> }): Promise<Record<string, unknown>>;
  findUniqueOrThrow(args: { where: Record<string, unknown> }): Promise<Record<string, unknown>>;
};

async function roundTrips(t: Test, db: Database) {
  const dm = dataModel(db);
  const created = new Map<string, Record<string, unknown>>();
  const pending = Object.keys(dm.models);
  while (pending.length > 0) {
    // Create models after the ones their foreign keys point at.
    const name = pending.find((n) => [...schema.get(n)!.values()].every((s) => !s.relation || s.relation.model === n || created.has(s.relation.model)));
    if (!name) throw new Error(`relation cycle among ${pending.join(", ")}`);
    pending.splice(pending.indexOf(name), 1);
    const syntax = schema.get(name)!;
    const delegate = (db.prisma as unknown as Record<string, Delegate>)[name[0]!.toLowerCase() + name.slice(1)]!;
    const scalars = dm.models[name]!.fields.filter((f) => f.kind === "scalar");
    const sample = () => Object.fromEntries(scalars.map((f) => [f.name, valueFor(f.type, syntax.get(f.name)!)]));
    const data = sample();
    for (const s of syntax.values()) {
      if (!s.relation) continue;
      // A self-relation needs a row of its own kind to point at first.
      const target = s.relation.model === name ? await delegate.create({ data: { ...sample(), [s.relation.field]: null, ...fkOnly(syntax, created, name) } }) : created.get(s.relation.model)!;
      data[s.relation.field] = target[idOf(s.relation.model)];
    }
    const row = await delegate.create({ data });
    created.set(name, row);
    const back = await delegate.findUniqueOrThrow({ where: { [idOf(name)]: data[idOf(name)] } });
    t.strictSame(
      Object.fromEntries(scalars.map((f) => [f.name, normalise(back[f.name])])),
      Object.fromEntries(scalars.map((f) => [f.name, normalise(data[f.name])])),
      `${name} reads back every field as written`,
    );
  }
}

/** The foreign keys to other models, for a self-relation's seed row. */
function fkOnly(syntax: Map<string, FieldSyntax>, created: Map<string, Record<string, unknown>>, self: string) {
  const out: Record<string, unknown> = {};
  for (const s of syntax.values()) {
    if (s.relation && s.relation.model !== self) out[s.relation.field] = created.get(s.relation.model)![idOf(s.relation.model)];
  }
  return out;
}

const idOf = (model: string) => [...schema.get(model)!.entries()].find(([, s]) => s.id)![0];

/** Refresh rotation locks the token row FOR UPDATE inside an interactive transaction. */
async function forUpdateSerialises(t: Test, db: Database) {
  const user = await db.prisma.user.create({ data: { id: randomUUID(), username: "u", usernameKey: randomUUID(), passwordHash: "h" } });
  const now = new Date();
  const session = await db.prisma.session.create({
    data: { id: randomUUID(), userId: user.id, transport: "bearer", createdAt: now, lastSeenAt: now, idleExpiresAt: now, absoluteExpiresAt: now, accessExpiresAt: now },
  });
  const bump = () =>
    db.prisma.$transaction(async (tx) => {
      const [row] = await tx.$queryRaw<{ device_score: number }[]>`SELECT device_score FROM sessions WHERE id = ${session.id}::uuid FOR UPDATE`;
      await new Promise((r) => setTimeout(r, 50)); // hold the lock while others queue
      await tx.$executeRaw`UPDATE sessions SET device_score = ${row!.device_score + 1} WHERE id = ${session.id}::uuid`;
      return row!.device_score;
    });
  const seen = await Promise.all(Array.from({ length: 8 }, bump));
  t.strictSame([...seen].sort((a, b) => a - b), [0, 1, 2, 3, 4, 5, 6, 7], "each transaction saw the previous one's commit");
  t.equal((await db.prisma.session.findUniqueOrThrow({ where: { id: session.id } })).deviceScore, 8, "no update was lost");
}

for (const [kind, open] of [
  ["postgres", async (t: Teardown) => (await freshPostgres(t)).db],
  ["embedded", async (t: Teardown) => (await freshEmbedded(t)).db],
] as const) {
  t.test(kind, async (t) => {
    const db = await open(t);
    t.equal(db.kind, kind);
    await t.test("the catalog matches every model", (t) => catalogAgrees(t, db));
    await t.test("every model round-trips with all fields set", (t) => roundTrips(t, db));
    await t.test("FOR UPDATE in interactive transactions serialises", (t) => forUpdateSerialises(t, db));
  });
}

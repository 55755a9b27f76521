// prisma/schema.prisma and the hand-written migrations must describe the same
// database. Without a schema engine nothing can run `prisma migrate diff`, so
// this compares the model Prisma compiled into the client with the migrated
// catalog, writes and reads every model back, and checks the transaction
// behaviour the domain relies on, on Postgres and on PGlite alike.
import { randomBytes, randomUUID } from "node:crypto";
import { readFile } from "node:fs/promises";
import t from "tap";
import type { Test } from "tap";
import type { Database } from "../../src/storage/database.js";
import type { Teardown } from "../fixtures/database.js";
import { freshEmbedded, freshPostgres } from "../fixtures/database.js";

interface RuntimeField {
  name: string;
  kind: string;
  type: string;
  dbName?: string | null;
}
interface RuntimeDataModel {
  models: Record<string, { dbName: string | null; fields: RuntimeField[] }>;
}

/** What the runtime data model leaves out, read from the schema text. */
interface Syntax {
  optional: boolean;
  list: boolean;
  native?: string;
  args?: string;
  hasDefault: boolean;
  id: boolean;
  relation?: { model: string; field: string; references: string; onDelete?: string };
}

const schemaText = await readFile(new URL("../../prisma/schema.prisma", import.meta.url), "utf8");
const schema = new Map<string, Map<string, Syntax>>();
for (const [, model, body] of schemaText.matchAll(/^model\s+(\w+)\s*\{([\s\S]*?)^\}/gm)) {
  const fields = new Map<string, Syntax>();
  for (const raw of body!.split("\n")) {
    const m = /^(\w+)\s+(\w+)(\[\])?(\?)?(.*)$/.exec(raw.replace(/\/\/.*$/, "").trim());
    if (!m) continue; // blank, comment or @@ line
    const [, name, type, list, optional, attrs = ""] = m;
    const native = /@db\.(\w+)(?:\(([^)]*)\))?/.exec(attrs);
    const fk = /fields:\s*\[(\w+)\],\s*references:\s*\[(\w+)\]/.exec(attrs);
    fields.set(name!, {
      list: !!list,
      optional: !!optional,
      native: native?.[1],
      args: native?.[2],
      hasDefault: attrs.includes("@default("),
      id: /@id\b/.test(attrs),
      ...(fk && { relation: { model: type!, field: fk[1]!, references: fk[2]!, onDelete: /onDelete:\s*(\w+)/.exec(attrs)?.[1] } }),
    });
  }
  schema.set(model!, fields);
}
const columnOf = (f: RuntimeField) => f.dbName ?? f.name;
const idOf = (model: string) => [...schema.get(model)!].find(([, s]) => s.id)![0];

/** The column type Prisma Migrate creates for a field, as format_type() prints it. */
function expectedType(type: string, s: Syntax): string {
  const mod = s.args ? `(${s.args})` : "";
  const strings: Record<string, string> = { undefined: "text", Text: "text", Uuid: "uuid", VarChar: `character varying${mod}` };
  const types: Record<string, string | undefined> = {
    String: strings[String(s.native)],
    Boolean: "boolean",
    Int: "integer",
    BigInt: "bigint",
    Bytes: "bytea",
    Json: s.native === "Json" ? "json" : "jsonb",
    DateTime: s.native === "Timestamptz" ? `timestamp${mod} with time zone` : s.native ? undefined : "timestamp(3) without time zone",
  };
  const base = types[type];
  if (!base) throw new Error(`no expectation for ${type} @db.${s.native}: extend expectedType()`);
  return s.list ? `${base}[]` : base;
}

function dataModel(db: Database): RuntimeDataModel {
  // The client carries the model Prisma parsed (model -> table, field ->
  // column). It is internal, so fail loudly should an upgrade move it.
  const dm = (db.prisma as unknown as { _runtimeDataModel?: RuntimeDataModel })._runtimeDataModel;
  if (!dm?.models) throw new Error("PrismaClient no longer exposes _runtimeDataModel");
  return dm;
}

async function catalogAgrees(t: Test, db: Database) {
  const dm = dataModel(db);
  type Column = { table_name: string; column_name: string; is_nullable: string; column_default: string | null; type: string };
  const cols = await db.prisma.$queryRawUnsafe<Column[]>(
    `SELECT c.table_name::text, c.column_name::text, c.is_nullable::text, c.column_default::text,
            format_type(a.atttypid, a.atttypmod) AS type
       FROM information_schema.columns c
       JOIN pg_attribute a ON a.attrelid = format('%I.%I', c.table_schema, c.table_name)::regclass AND a.attname = c.column_name
      WHERE c.table_schema = current_schema() AND c.table_name <> '_prisma_migrations'`,
  );
  const tables = [...new Set(cols.map((c) => c.table_name))].sort();
  t.strictSame(
    tables,
    Object.values(dm.models)
      .map((m) => m.dbName)
      .sort(),
    "one table per model, no others",
  );
  const fks: string[] = [];
  for (const [name, model] of Object.entries(dm.models)) {
    const syntax = schema.get(name)!;
    t.strictSame([...syntax.keys()].sort(), model.fields.map((f) => f.name).sort(), `${name}: the schema parser saw every field`);
    const scalars = model.fields.filter((f) => f.kind === "scalar");
    const actual = cols.filter((c) => c.table_name === model.dbName);
    t.strictSame(actual.map((c) => c.column_name).sort(), scalars.map(columnOf).sort(), `${name}: columns are its scalar fields`);
    for (const f of scalars) {
      const s = syntax.get(f.name)!;
      const col = actual.find((c) => c.column_name === columnOf(f));
      t.strictSame(
        { type: col?.type, nullable: col?.is_nullable, hasDefault: col?.column_default != null },
        // Prisma Migrate creates scalar lists as nullable arrays.
        { type: expectedType(f.type, s), nullable: s.optional || s.list ? "YES" : "NO", hasDefault: s.hasDefault },
        `${name}.${f.name} is ${model.dbName}.${columnOf(f)}`,
      );
    }
    for (const s of syntax.values()) {
      if (!s.relation) continue;
      const { model: target, field, references, onDelete } = s.relation;
      const column = (m: string, f: string) => columnOf(dm.models[m]!.fields.find((x) => x.name === f)!);
      // Prisma's default: SetNull for an optional relation, Restrict for a required one.
      const action = onDelete ?? (syntax.get(field)!.optional ? "SetNull" : "Restrict");
      fks.push(`${model.dbName}.${column(name, field)} -> ${dm.models[target]!.dbName}.${column(target, references)} ${action}`);
    }
  }
  const actions: Record<string, string> = { c: "Cascade", n: "SetNull", r: "Restrict", a: "NoAction", d: "SetDefault" };
  const dbFks = await db.prisma.$queryRawUnsafe<{ fk: string; action: string }[]>(
    `SELECT conrelid::regclass::text || '.' || a.attname || ' -> ' || confrelid::regclass::text || '.' || r.attname AS fk,
            confdeltype::text AS action
       FROM pg_constraint c
       JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
       JOIN pg_attribute r ON r.attrelid = c.confrelid AND r.attnum = c.confkey[1]
      WHERE c.contype = 'f' AND c.connamespace = current_schema()::regnamespace`,
  );
  t.strictSame(dbFks.map((f) => `${f.fk} ${actions[f.action]}`).sort(), fks.sort(), "foreign keys match the relations");
  // Named indexes (@@index, @unique with map:) against the real ones.
  const named = [...schemaText.matchAll(/map:\s*"([^"]+)"/g)].map((m) => m[1]!).sort();
  const indexes = await db.prisma.$queryRawUnsafe<{ name: string }[]>(
    `SELECT indexname::text AS name FROM pg_indexes WHERE schemaname = current_schema()
        AND tablename <> '_prisma_migrations' AND indexname NOT LIKE '%\\_pkey'`,
  );
  t.strictSame(indexes.map((i) => i.name).sort(), named, "indexes match the schema's");
  // Partial indexes (previewFeatures partialIndexes, `where: raw("...")`) against the real predicates;
  // every other index must have none. Postgres prints a predicate in parentheses.
  const predicates = new Map([...schemaText.matchAll(/map:\s*"([^"]+)"[^\n]*?where:\s*raw\("([^"]+)"\)/g)].map((m) => [m[1]!, m[2]!]));
  t.ok(predicates.size > 0, "the schema declares a partial index");
  const real = await db.prisma.$queryRawUnsafe<{ name: string; predicate: string | null }[]>(
    `SELECT c.relname::text AS name, pg_get_expr(i.indpred, i.indrelid) AS predicate
       FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
      WHERE c.relnamespace = current_schema()::regnamespace AND NOT i.indisprimary`,
  );
  const normal = (p: string | null | undefined) => (p ?? "").replace(/[()\s]/g, "").toLowerCase();
  for (const r of real.filter((x) => x.name !== "_prisma_migrations_pkey")) {
    t.equal(normal(r.predicate), normal(predicates.get(r.name)), `${r.name}: the predicate matches the schema's`);
  }
}

/** A value that stretches its column: full length, non-ASCII, ms precision, beyond 2^53. */
function sample(type: string, s: Syntax): unknown {
  const n = () => randomBytes(2).readUInt16BE();
  const one = (): unknown => {
    switch (type) {
      case "String":
        return s.native === "Uuid" ? randomUUID() : (randomBytes(8).toString("hex") + "é".repeat(512)).slice(0, Number(s.args ?? 40));
      case "Boolean":
        return true;
      case "Int":
        return 1_000_000 + n();
      case "BigInt":
        return 2n ** 53n + BigInt(n());
      case "DateTime":
        return new Date(Date.UTC(2031, 1, 2, 3, 4, 5, 678) + n() * 1000);
      case "Bytes":
        return new Uint8Array(randomBytes(32));
      case "Json":
        return { nested: { list: [1, "two", true, null] }, text: "é" };
      default:
        throw new Error(`no sample value for ${type}: extend sample()`);
    }
  };
  return s.list ? [one(), one()] : one();
}

function normalise(v: unknown): unknown {
  if (v instanceof Date) return `date:${v.toISOString()}`;
  if (v instanceof Uint8Array) return `bytes:${Buffer.from(v).toString("hex")}`;
  if (typeof v === "bigint") return `bigint:${v}`;
  return Array.isArray(v) ? v.map(normalise) : v;
}

type Row = Record<string, unknown>;
type Delegate = { create(a: { data: Row }): Promise<Row>; findUniqueOrThrow(a: { where: Row }): Promise<Row> };

async function roundTrips(t: Test, db: Database) {
  const dm = dataModel(db);
  const created = new Map<string, Row>();
  const pending = Object.keys(dm.models);
  while (pending.length > 0) {
    // Create each model after the ones its foreign keys point at.
    const ready = (n: string) =>
      [...schema.get(n)!.values()].every((s) => !s.relation || s.relation.model === n || created.has(s.relation.model));
    const name = pending.find(ready);
    if (!name) throw new Error(`relation cycle among ${pending.join(", ")}`);
    pending.splice(pending.indexOf(name), 1);
    const syntax = schema.get(name)!;
    const delegate = (db.prisma as unknown as Record<string, Delegate>)[name[0]!.toLowerCase() + name.slice(1)]!;
    const scalars = dm.models[name]!.fields.filter((f) => f.kind === "scalar");
    const row = async (self: Row | null): Promise<Row> => {
      const data: Row = Object.fromEntries(scalars.map((f) => [f.name, sample(f.type, syntax.get(f.name)!)]));
      for (const { relation: r } of syntax.values()) {
        if (r) data[r.field] = r.model === name ? (self?.[r.references] ?? null) : created.get(r.model)![r.references];
      }
      return data;
    };
    // A self-relation needs a row of its own kind to point at first.
    const selfRelated = [...syntax.values()].some((s) => s.relation?.model === name);
    const data = await row(selfRelated ? await delegate.create({ data: await row(null) }) : null);
    created.set(name, await delegate.create({ data }));
    const back = await delegate.findUniqueOrThrow({ where: { [idOf(name)]: data[idOf(name)] } });
    const pick = (r: Row) => Object.fromEntries(scalars.map((f) => [f.name, normalise(r[f.name])]));
    t.strictSame(pick(back), pick(data), `${name} reads back every field as written`);
    t.ok(
      scalars.every((f) => data[f.name] != null),
      `${name}: every field was set`,
    );
  }
}

/** Refresh-token rotation locks the token row FOR UPDATE in an interactive transaction. */
async function forUpdateSerialises(t: Test, db: Database) {
  const user = await db.prisma.user.create({ data: { id: randomUUID(), username: "u", usernameKey: randomUUID(), passwordHash: "h" } });
  const now = new Date();
  const times = { createdAt: now, lastSeenAt: now, idleExpiresAt: now, absoluteExpiresAt: now, accessExpiresAt: now };
  const { id } = await db.prisma.session.create({ data: { id: randomUUID(), userId: user.id, transport: "bearer", ...times } });
  const bump = () =>
    db.prisma.$transaction(async (tx) => {
      const [row] = await tx.$queryRaw<{ n: number }[]>`SELECT device_score AS n FROM sessions WHERE id = ${id}::uuid FOR UPDATE`;
      await new Promise((r) => setTimeout(r, 50)); // hold the row while the others queue for it
      await tx.$executeRaw`UPDATE sessions SET device_score = ${row!.n + 1} WHERE id = ${id}::uuid`;
      return row!.n;
    });
  const seen = await Promise.all(Array.from({ length: 8 }, bump));
  t.strictSame([...seen].sort(), [0, 1, 2, 3, 4, 5, 6, 7], "each transaction saw the previous one's commit");
  t.equal((await db.prisma.session.findUniqueOrThrow({ where: { id } })).deviceScore, 8, "no update was lost");
}

const kinds: [string, (t: Teardown) => Promise<Database>][] = [
  ["postgres", async (t) => (await freshPostgres(t)).db],
  ["embedded", async (t) => (await freshEmbedded(t)).db],
];
for (const [kind, open] of kinds) {
  t.test(kind, async (t) => {
    const db = await open(t);
    t.equal(db.kind, kind);
    await t.test("the migrated catalog matches every model", (t) => catalogAgrees(t, db));
    await t.test("every model round-trips through Prisma with all fields set", (t) => roundTrips(t, db));
    await t.test("FOR UPDATE in interactive transactions serialises", (t) => forUpdateSerialises(t, db));
  });
}

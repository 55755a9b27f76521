import t from "tap";
import { sql } from "../../src/storage/sql-driver.js";

t.test("sql`…` turns interpolations into positional parameters and names each call site's statement once", async (t) => {
  const at = (id: string, n: number) => sql`SELECT * FROM t WHERE id = ${id}::uuid AND n > ${n}::int`;
  const a = at("x", 1);
  const b = at("y'; DROP TABLE t; --", 2);
  t.equal(a.text, "SELECT * FROM t WHERE id = $1::uuid AND n > $2::int");
  t.same(a.values, ["x", 1]);
  t.equal(b.text, a.text, "values never reach the text");
  t.same(b.values, ["y'; DROP TABLE t; --", 2]);
  t.equal(b.name, a.name, "one call site, one prepared-statement name");
  t.match(a.name, /^sa_[0-9a-f]{24}$/);
  const other = sql`SELECT * FROM t WHERE id = ${"x"}::uuid`;
  t.not(other.name, a.name, "another statement, another name");
  t.equal(sql`SELECT 1`.text, "SELECT 1");
});

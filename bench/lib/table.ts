/** One line of the results table. */
export interface Row {
  benchmark: string;
  measured: string;
  baseline: string;
  ratio: string;
  goal: string;
  /** null: informational, no goal to meet. */
  met: boolean | null;
}

const COLUMNS = ["benchmark", "measured", "baseline", "ratio", "goal", "met?"] as const;

const cell = (s: string) => s.replace(/\|/g, "\\|");

/** The results as a Markdown table. */
export function markdownTable(rows: readonly Row[]): string {
  const lines = [`| ${COLUMNS.join(" | ")} |`, `|${COLUMNS.map(() => "---").join("|")}|`];
  for (const r of rows) {
    const met = r.met === null ? "—" : r.met ? "yes" : "**no**";
    lines.push(`| ${[r.benchmark, r.measured, r.baseline, r.ratio, r.goal, met].map(cell).join(" | ")} |`);
  }
  return lines.join("\n");
}

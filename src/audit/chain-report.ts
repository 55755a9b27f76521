import type { ChainReport } from "./audit-chain.js";

/** The JSON form of a verification, for the API and the CLI alike. */
export const chainReportView = (r: ChainReport) => ({
  valid: r.valid,
  checked: r.checked,
  anchor: { seq: Number(r.anchor.seq), hash: r.anchor.hash },
  head: { seq: Number(r.head.seq), hash: r.head.hash },
  first_invalid: r.firstInvalid && {
    id: r.firstInvalid.id.toString(),
    seq: Number(r.firstInvalid.seq),
    expected_seq: Number(r.firstInvalid.expectedSeq),
    reason: r.firstInvalid.reason,
  },
});

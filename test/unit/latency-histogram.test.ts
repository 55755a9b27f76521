import t from "tap";
import { Histogram, Registry } from "prom-client";
import { LatencyHistogram } from "../../src/observability/latency-histogram.js";

const BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

t.test("the latency histogram prints exactly what prom-client's Histogram prints for the same observations", async (t) => {
  const ours = new Registry();
  const theirs = new Registry();
  const fast = new LatencyHistogram("x_duration_seconds", "help text", BUCKETS, ours);
  const reference = new Histogram({
    name: "x_duration_seconds",
    help: "help text",
    labelNames: ["method", "route", "status"],
    buckets: BUCKETS,
    registers: [theirs],
  });
  const labelSets = [
    { method: "POST", route: "/introspect", status: "2xx" },
    { method: "GET", route: "/forward-auth", status: "4xx" },
  ];
  const series = labelSets.map((l) => fast.series(l));
  // Bounds themselves, values between them, below the first and above the last.
  const values = [0, 0.0001, 0.0005, 0.0007, 0.001, 0.003, 0.01, 0.2, 1, 2.5, 2.6, 10];
  values.forEach((v, i) => {
    const k = i % 2;
    series[k]!.observe(v);
    reference.observe(labelSets[k]!, v);
  });
  t.equal(await ours.metrics(), await theirs.metrics());
  fast.reset();
  reference.reset();
  t.match(await ours.metrics(), /x_duration_seconds_count\{method="POST",route="\/introspect",status="2xx"\} 0/, "reset zeroes");
});

// The load generator's process: reads one LoadJob as JSON on standard input,
// runs autocannon, prints one LoadResult as JSON on standard output. A
// separate process, so that the load never shares an event loop with the
// server it measures.
import autocannon from "autocannon";
import { issueBody, loadHeaders, type LoadJob, type LoadResult } from "./load-job.js";

async function readStdin(): Promise<string> {
  let s = "";
  for await (const chunk of process.stdin) s += chunk;
  return s;
}

function requestFor(job: LoadJob, counters: { bad: number; queue?: string[] }): autocannon.Request {
  const check = (status: number, body: string) => {
    if (job.expect !== undefined && status >= 200 && status < 300 && !body.includes(job.expect)) counters.bad++;
  };
  const base: autocannon.Request = { method: job.method, path: job.path, onResponse: (status, body) => check(status, body) };
  const b = job.body;
  switch (b.kind) {
    case "none":
      return base;
    case "introspect-form": {
      const bodies = b.tokens.map((t) => `token=${encodeURIComponent(t)}&token_type_hint=access_token`);
      let i = 0;
      return { ...base, setupRequest: (req) => ({ ...req, body: bodies[i++ % bodies.length]! }) };
    }
    case "bearer-header": {
      const values = b.tokens.map((t) => `Bearer ${t}`);
      let i = 0;
      return { ...base, setupRequest: (req) => ({ ...req, headers: { ...req.headers, authorization: values[i++ % values.length]! } }) };
    }
    case "refresh-chain": {
      // Each connection takes the token at the front; the successor joins the
      // back, so every chain rotates in turn and no token is presented twice.
      const queue = [...b.tokens];
      counters.queue = queue;
      return {
        ...base,
        setupRequest: (req) => {
          const token = queue.shift();
          if (token === undefined) return undefined; // every chain broken: autocannon stops this connection
          return { ...req, body: JSON.stringify({ refresh_token: token }) };
        },
        onResponse: (status, body) => {
          check(status, body);
          if (status === 200) queue.push((JSON.parse(body) as { refresh_token: string }).refresh_token);
        },
      };
    }
    case "issue": {
      let i = 0;
      return {
        ...base,
        setupRequest: (req) => ({ ...req, body: issueBody(b, b.subjects[i++ % b.subjects.length]!) }),
      };
    }
  }
}

async function main(): Promise<void> {
  const job = JSON.parse(await readStdin()) as LoadJob;
  const counters: { bad: number; queue?: string[] } = { bad: 0 };
  const headers = loadHeaders(job);
  const cpuStart = process.cpuUsage();
  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    autocannon(
      {
        url: job.url,
        connections: job.connections,
        duration: job.durationSec,
        pipelining: 1,
        timeout: 10,
        headers,
        requests: [requestFor(job, counters)],
      },
      (err, res) => (err ? reject(err) : resolve(res)),
    );
  });
  const cpu = process.cpuUsage(cpuStart);
  const good = result["2xx"] - counters.bad;
  const out: LoadResult = {
    rps: good / job.durationSec,
    p50: result.latency.p50,
    p90: result.latency.p90,
    p99: result.latency.p99,
    total: result.requests.total,
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    bad: counters.bad,
    loadGeneratorCpuUsPerRequest: result.requests.total > 0 ? (cpu.user + cpu.system) / result.requests.total : 0,
    ...(counters.queue ? { remainingTokens: counters.queue } : {}),
  };
  process.stdout.write(`${JSON.stringify(out)}\n`);
}

main().catch((err) => {
  process.stderr.write(`load worker failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});

// Baseline: the floor of any form-encoded POST on Fastify. The same request
// the introspection load sends the service (form body, HTTP Basic header),
// parsed with the service's parser (fast-querystring) and answered with a
// fixed `{"active":true}`: no authentication, verification, revocation
// check, schema, hook, metric or log. Its ratio to the GET hello-world is
// what reading a request body costs Fastify before any work is done.
// Prints {"port":N} when listening.
import Fastify from "fastify";
import { parse } from "fast-querystring";
import { listenForBench } from "./listen.js";

const app = Fastify({ logger: false });
app.addContentTypeParser("application/x-www-form-urlencoded", { parseAs: "string" }, (_request, body, done) => {
  done(null, parse(body as string));
});
app.post("/introspect", async (request, reply) => {
  const token = (request.body as { token?: unknown } | null)?.token;
  if (typeof token !== "string" || token.length === 0) return reply.code(400).send({ error: "invalid_request" });
  return { active: true };
});

await listenForBench(app);

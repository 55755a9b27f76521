// Baseline: bare Fastify hello-world, in its own process. Prints {"port":N} when listening.
import Fastify from "fastify";
import { listenForBench } from "./listen.js";

const app = Fastify({ logger: false });
app.get("/", async () => ({ hello: "world" }));

await listenForBench(app);

// What every baseline server does once built: listen on a free loopback
// port, print {"port":N} for the benchmark, and close on SIGTERM/SIGINT.
import type { FastifyInstance } from "fastify";

export async function listenForBench(app: FastifyInstance, onClose: () => Promise<unknown> = async () => undefined): Promise<void> {
  await app.listen({ host: "127.0.0.1", port: 0 });
  const address = app.server.address() as { port: number };
  process.stdout.write(`${JSON.stringify({ port: address.port })}\n`);
  const stop = () =>
    void app
      .close()
      .then(onClose)
      .then(() => process.exit(0));
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}

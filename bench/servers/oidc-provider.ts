// Baseline: node-oidc-provider's token introspection (its in-memory adapter),
// in its own process. One confidential client may use the client_credentials
// grant (opaque access tokens) and introspect. Prints {"port":N} when listening.
import { createServer } from "node:http";
import Provider from "oidc-provider";

const clientId = process.env.OIDC_CLIENT_ID ?? "bench";
const clientSecret = process.env.OIDC_CLIENT_SECRET;
if (!clientSecret) throw new Error("OIDC_CLIENT_SECRET is required");
const port = Number(process.env.PORT ?? 0);

const provider = new Provider(`http://127.0.0.1:${port}`, {
  clients: [
    {
      client_id: clientId,
      client_secret: clientSecret,
      grant_types: ["client_credentials"],
      redirect_uris: [],
      response_types: [],
      token_endpoint_auth_method: "client_secret_basic",
    },
  ],
  features: {
    introspection: { enabled: true, allowedPolicy: async () => true },
    clientCredentials: { enabled: true },
    devInteractions: { enabled: false },
  },
  // Like the session authority's access tokens: ten minutes.
  ttl: { ClientCredentials: 600 },
});

const server = createServer(provider.callback());
server.listen(port, "127.0.0.1", () => {
  process.stdout.write(`${JSON.stringify({ port })}\n`);
});

const stop = () => server.close(() => process.exit(0));
process.on("SIGTERM", stop);
process.on("SIGINT", stop);

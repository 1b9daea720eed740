import { Hono } from "hono";
import type { AppEnv } from "./lib/context";
import { ApiError, installFallbacks, renderError } from "./lib/errors-handler";
import { configEdgeApp } from "./config-edge";
import { adminConfigApp } from "./admin-config";
import { adminAccessApp } from "./admin-access";
import { clicksApp } from "./clicks";
import { metricsApp } from "./metrics";
import { dashboardApp } from "./dashboard";
import { clickLinksApp } from "./click-links";
import { drainUnread } from "./lib/body";
import { openapiApp } from "./openapi";
import { ofrepApp } from "./ofrep";
import { scheduled } from "./retention";

export { RolloutCoordinator } from "../durable-objects/RolloutCoordinator";
export { ClickShard } from "../durable-objects/ClickShard";
export { ClickBuffer } from "../durable-objects/ClickBuffer";
export { ClickEpochs } from "../durable-objects/ClickEpochs";
export { ClickAggregator } from "../durable-objects/ClickAggregator";
export { ConfigStream } from "../durable-objects/ConfigStream";

const app = new Hono<AppEnv>();

// Whatever the answer (401, 404, 405, 400 …), a request body the handler left unread is read to its
// end before the response goes out: `wrangler dev` exits when one is left unread (workers/lib/body.ts).
app.use("*", async (c, next) => {
  await next();
  await drainUnread(c.req.raw);
});

/**
 * The request line and headers together may take MAX_HEADER_BYTES; larger → 431 in the JSON error
 * shape. (Past ~128 KiB the runtime itself answers 431 in plain text before any Worker code runs, as
 * Cloudflare's edge does in production; that answer cannot be shaped here — docs/security.md.)
 */
const MAX_HEADER_BYTES = 32 * 1024;
app.use("*", async (c, next) => {
  let bytes = c.req.url.length;
  for (const [name, value] of c.req.raw.headers) bytes += name.length + value.length + 4;
  if (bytes > MAX_HEADER_BYTES) {
    throw new ApiError(431, "headers_too_large", `Request line and headers take ${bytes} bytes; at most ${MAX_HEADER_BYTES} are accepted`, { limit_bytes: MAX_HEADER_BYTES });
  }
  await next();
});

app.get("/healthz", (c) => c.json({ ok: true }));
/** The benchmark's floor: the cheapest route this server has. */
app.get("/noop", (c) => c.text("ok"));

app.route("/v1/configs", configEdgeApp);
app.route("/v1/configs", ofrepApp);
app.route("/admin/v1", adminConfigApp);
app.route("/admin/v1", adminAccessApp);
app.route("/", clicksApp);
app.route("/api/v1/clicks", metricsApp);
app.route("/", clickLinksApp);
app.route("/", dashboardApp);
app.route("/", openapiApp);

app.onError(renderError);
installFallbacks(app);

export { app };

/** The Worker: HTTP through the Hono app; the Cron Trigger runs the click retention job. */
export default {
  fetch: app.fetch,
  scheduled,
} satisfies ExportedHandler<Env>;

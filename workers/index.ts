import { Hono } from "hono";
import type { AppEnv } from "./lib/context";
import { installFallbacks, renderError } from "./lib/errors-handler";
import { configEdgeApp } from "./config-edge";
import { adminConfigApp } from "./admin-config";
import { adminAccessApp } from "./admin-access";
import { clicksApp } from "./clicks";
import { metricsApp } from "./metrics";
import { dashboardApp } from "./dashboard";
import { clickLinksApp } from "./click-links";
import { ofrepApp } from "./ofrep";

export { RolloutCoordinator } from "../durable-objects/RolloutCoordinator";
export { ClickShard } from "../durable-objects/ClickShard";
export { ClickBuffer } from "../durable-objects/ClickBuffer";
export { ConfigStream } from "../durable-objects/ConfigStream";

const app = new Hono<AppEnv>();

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

app.onError(renderError);
installFallbacks(app);

export default app;

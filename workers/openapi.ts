import { newSubApp } from "./lib/app-factory";

/**
 * `GET /openapi.json`: the OpenAPI 3.1 document of the whole HTTP API, generated from lib/api's zod
 * schemas (workers/openapi/). Built on the first request of an isolate and kept; the generator is
 * imported only then, so it costs nothing at startup.
 */
export const openapiApp = newSubApp();

let cached: Promise<string> | null = null;

openapiApp.get("/openapi.json", async (c) => {
  cached ??= import("./openapi/document").then(async (m) => JSON.stringify(await m.openapiDocument()));
  return c.body(await cached, 200, { "Content-Type": "application/json; charset=UTF-8", "Access-Control-Allow-Origin": "*", "Cache-Control": "public, max-age=300" });
});

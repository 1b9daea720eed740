// @edgeplane/client: consumed as TypeScript source (Node 22 strips types natively; the dashboard's
// esbuild bundle and vitest compile it). Relative imports carry their `.ts` extension so Node can run
// them without a build step; `npm run typecheck` (tsconfig.node.json, NodeNext) enforces that.
export { EdgeplaneError, ConnectionError } from "./errors.ts";
export { Transport, seg, type HttpResult, type Query, type RequestOptions, type TransportOptions } from "./http.ts";
export { AdminClient } from "./admin.ts";
export type * from "./types.ts";
export { ROLES, ROLLOUT_ACTIONS } from "../../../lib/api/constants.ts";
export { ConfigClient, type ConfigClientOptions, type ConfigSnapshot, type ChangeListener, type ConfigSource } from "./config-client.ts";
export { memoryStorage, webStorage, parseRecord, type ConfigRecord, type ConfigStorage } from "./config-storage.ts";
export { backoffDelay, DEFAULT_BACKOFF, type BackoffOptions } from "./config-backoff.ts";
export { parseSseChunk, type SseMessage } from "./config-sse.ts";

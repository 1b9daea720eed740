import type { Context } from "hono";
import type { Role } from "../../lib/roles";

/** Who is calling, resolved from the bearer token by `requireAuth`. */
export interface Principal {
  tokenId: string;
  name: string;
  role: Role;
  namespaces: readonly string[];
  /** Stable actor string for audit entries, e.g. `token:tok_ab12 (ci-bot)`. */
  actor: string;
}

export interface AppEnv {
  Bindings: Env;
  Variables: { principal: Principal };
}

export type AppContext = Context<AppEnv>;

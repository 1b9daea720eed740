import type { RolloutCoordinator } from "../../durable-objects/RolloutCoordinator";
import { unwrap, type Outcome } from "../../lib/outcome";

type RpcMethods = {
  [K in keyof RolloutCoordinator as RolloutCoordinator[K] extends (...args: any[]) => Promise<Outcome<any>> ? K : never]: RolloutCoordinator[K];
};

/**
 * The coordinator's RPC surface as the edge uses it: each method resolves to its value or throws the
 * ApiError the coordinator returned. (Declared types are kept; the generic stub type would rewrite
 * results containing `unknown` JSON — schemas, values — into `never`.)
 */
export type CoordinatorApi = {
  [K in keyof RpcMethods]: RpcMethods[K] extends (...args: infer A) => Promise<Outcome<infer V>> ? (...args: A) => Promise<V> : never;
};

/** The namespace's RolloutCoordinator (one Durable Object per namespace, named after it). */
export function coordinator(env: Env, namespace: string): CoordinatorApi {
  const stub = env.ROLLOUT_COORDINATOR.get(env.ROLLOUT_COORDINATOR.idFromName(namespace)) as unknown as Record<string, (...args: unknown[]) => Promise<Outcome<unknown>>>;
  return new Proxy({} as CoordinatorApi, {
    get: (_target, method: string) => async (...args: unknown[]) => unwrap(await stub[method](...args)),
  });
}

import type { RolloutCoordinator } from "../../durable-objects/RolloutCoordinator";

type PublicMethods<T> = { [K in keyof T as T[K] extends (...args: never[]) => Promise<unknown> ? K : never]: T[K] };

/**
 * The coordinator's RPC surface with its declared return types. (The generic stub type rewrites
 * results that contain `unknown` JSON — schemas, values — into `never`; the values cross RPC intact.)
 */
export type CoordinatorApi = Omit<PublicMethods<RolloutCoordinator>, "alarm" | "fetch" | "webSocketMessage" | "webSocketClose" | "webSocketError">;

/** The namespace's RolloutCoordinator (one Durable Object per namespace, named after it). */
export function coordinator(env: Env, namespace: string): CoordinatorApi {
  return env.ROLLOUT_COORDINATOR.get(env.ROLLOUT_COORDINATOR.idFromName(namespace)) as unknown as CoordinatorApi;
}

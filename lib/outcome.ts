import { ApiError } from "./errors";

/**
 * The one RPC error convention of every Durable Object: a method that can fail for a reason the
 * caller renders (404, 409, 503 …) resolves to an Outcome instead of throwing. An exception thrown
 * across RPC is logged by the runtime as "Uncaught Error" even when the caller handles it, and loses
 * its class (only the message survives). Exceptions stay for the unexpected (bugs, storage failures).
 * The caller turns a failed Outcome back into an ApiError with `unwrap`.
 */
export type Outcome<T> = { ok: true; value: T } | { ok: false; error: OutcomeError };

export interface OutcomeError {
  status: number;
  code: string;
  message: string;
  details: unknown;
}

export function success<T>(value: T): Outcome<T> {
  return { ok: true, value };
}

export function failure(err: ApiError): Outcome<never> {
  return { ok: false, error: { status: err.status, code: err.code, message: err.message, details: err.details } };
}

/** Runs `fn`; an ApiError it throws becomes a failed Outcome, anything else is rethrown. */
export async function outcomeOf<T>(fn: () => T | Promise<T>): Promise<Outcome<T>> {
  try {
    return success(await fn());
  } catch (e) {
    if (e instanceof ApiError) return failure(e);
    throw e;
  }
}

/** The value of an Outcome, or its error thrown as the ApiError it was. */
export function unwrap<T>(o: Outcome<T>): T {
  if (o.ok) return o.value;
  throw new ApiError(o.error.status, o.error.code, o.error.message, o.error.details);
}

/** A failure with an HTTP status and a stable snake_case code; rendered by the app's one onError. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: unknown = null,
  ) {
    super(message);
    this.name = "ApiError";
  }
}

export const badRequest = (code: string, message: string, details: unknown = null) =>
  new ApiError(400, code, message, details);
export const notFound = (code: string, message: string, details: unknown = null) =>
  new ApiError(404, code, message, details);
export const conflict = (code: string, message: string, details: unknown = null) =>
  new ApiError(409, code, message, details);
export const unprocessable = (code: string, message: string, details: unknown = null) =>
  new ApiError(422, code, message, details);

export interface ErrorBody {
  error: { code: string; message: string; details: unknown };
}

export function errorBody(code: string, message: string, details: unknown = null): ErrorBody {
  return { error: { code, message, details } };
}

/**
 * Errors thrown inside a Durable Object reach the caller over RPC as plain Errors: the class is lost
 * but the message survives. We encode ApiErrors into the message so the edge can rebuild them.
 */
const RPC_PREFIX = "edgeplane-api-error:";

export function toRpcError(err: ApiError): Error {
  return new Error(RPC_PREFIX + JSON.stringify({ s: err.status, c: err.code, m: err.message, d: err.details }));
}

export function fromRpcError(err: unknown): ApiError | null {
  if (err instanceof ApiError) return err;
  const msg = err instanceof Error ? err.message : typeof err === "string" ? err : "";
  const at = msg.indexOf(RPC_PREFIX);
  if (at < 0) return null;
  try {
    const p = JSON.parse(msg.slice(at + RPC_PREFIX.length)) as { s: number; c: string; m: string; d: unknown };
    return new ApiError(p.s, p.c, p.m, p.d);
  } catch {
    return null;
  }
}

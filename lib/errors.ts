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

/** The ApiError `err` is, if it is one (RPC failures arrive as Outcomes, lib/outcome.ts). */
export function asApiError(err: unknown): ApiError | null {
  return err instanceof ApiError ? err : null;
}

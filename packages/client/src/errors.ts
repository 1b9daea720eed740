/** An answer from edgeplane that is not a success: the `{"error": {code, message, details}}` envelope. */
export class EdgeplaneError extends Error {
  readonly status: number;
  readonly code: string;
  readonly details: unknown;
  readonly request: { method: string; path: string };

  constructor(status: number, code: string, message: string, details: unknown, request: { method: string; path: string }) {
    super(message);
    this.name = "EdgeplaneError";
    this.status = status;
    this.code = code;
    this.details = details;
    this.request = request;
  }
}

/** The server could not be reached (refused, timed out, DNS). */
export class ConnectionError extends Error {
  readonly url: string;
  readonly reason: string;

  constructor(url: string, reason: string) {
    super(`cannot reach ${url}: ${reason}`);
    this.name = "ConnectionError";
    this.url = url;
    this.reason = reason;
  }
}

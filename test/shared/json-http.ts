// One way to build a JSON API request and read its answer, for the in-process workerd tests
// (test/workerd/helpers.ts) and the end-to-end tests against wrangler dev (test/e2e/server.ts).

export interface JsonRequestOptions {
  /** Bearer token; undefined = the suite's admin token, null = none. */
  token?: string | null;
  /** Sent as is when a string, as JSON otherwise. */
  body?: unknown;
  headers?: Record<string, string>;
}

export interface JsonAnswer {
  status: number;
  body: any;
  headers: Headers;
}

/** Headers and body of a request: bearer token, JSON body with its content type unless one is given. */
export function jsonRequestInit(opts: JsonRequestOptions, defaultToken: string): { headers: Record<string, string>; body: string | undefined } {
  const headers: Record<string, string> = { ...(opts.headers ?? {}) };
  const token = opts.token === undefined ? defaultToken : opts.token;
  if (token) headers.authorization = `Bearer ${token}`;
  let body: string | undefined;
  if (opts.body !== undefined) {
    body = typeof opts.body === "string" ? opts.body : JSON.stringify(opts.body);
    headers["content-type"] ??= "application/json";
  }
  return { headers, body };
}

/** The answer with its body parsed as JSON when it is JSON (the text otherwise, null when empty). */
export async function readAnswer(res: Response): Promise<JsonAnswer> {
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    /* keep text */
  }
  return { status: res.status, body: parsed, headers: res.headers };
}

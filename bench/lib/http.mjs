// A small JSON-over-HTTP client for setup and latency trials (the load itself comes from wrk).

/** Sends one request; never throws on an HTTP status. Returns {status, body, headers, ms}. */
export async function api(base, method, path, { token, body, headers = {} } = {}) {
  const h = { ...headers };
  if (token) h.authorization = `Bearer ${token}`;
  let payload;
  if (body !== undefined) {
    payload = typeof body === "string" ? body : JSON.stringify(body);
    h["content-type"] ??= "application/json";
  }
  const t0 = performance.now();
  const res = await fetch(base + path, { method, headers: h, body: payload, redirect: "manual" });
  const text = await res.text();
  const ms = performance.now() - t0;
  let parsed = text;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    /* not JSON */
  }
  return { status: res.status, body: parsed, headers: res.headers, ms };
}

/** Like api() but throws unless the status is one of `expect`. */
export async function must(base, method, path, opts = {}, expect = [200, 201, 202]) {
  const r = await api(base, method, path, opts);
  if (!expect.includes(r.status)) {
    const detail = typeof r.body === "string" ? r.body.slice(0, 300) : JSON.stringify(r.body)?.slice(0, 600);
    throw new Error(`${method} ${path} → ${r.status} (expected ${expect.join("|")}): ${detail}`);
  }
  return r;
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Percentiles of a list of numbers (nearest-rank), rounded to 0.1. */
export function percentiles(values, ps = [50, 90, 99]) {
  const s = [...values].sort((a, b) => a - b);
  const out = { n: s.length };
  for (const p of ps) out[`p${p}`] = s.length ? Math.round(s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] * 10) / 10 : null;
  out.max = s.length ? Math.round(s[s.length - 1] * 10) / 10 : null;
  return out;
}

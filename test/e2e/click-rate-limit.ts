/**
 * The e2e servers that test the click rate limits run with this weight: each request draws 100 tokens,
 * so the bindings' budgets (1 200 and 3 000 per minute in wrangler.toml) are spent by 12 and 30 requests.
 */
export const TEST_WEIGHT = 100;
export const ANONYMOUS_REQUESTS = 1_200 / TEST_WEIGHT;
export const TOKEN_REQUESTS = 3_000 / TEST_WEIGHT;

/**
 * Spends a client IP's click budget with cheap empty POST /v1/clicks requests, 4 at a time, until one
 * answers 429. Returns false if none did within twice the limit (a window boundary can reset the count once).
 */
export async function exhaustClickBudget(
  baseUrl: string,
  ip: string,
  headers: () => Record<string, string> = () => ({}),
  limit = ANONYMOUS_REQUESTS,
): Promise<boolean> {
  const send = async () => {
    const r = await fetch(baseUrl + "/v1/clicks", {
      method: "POST",
      headers: { "content-type": "application/json", "cf-connecting-ip": ip, ...headers() },
      body: '{"events":[]}',
    });
    await r.arrayBuffer();
    return r.status;
  };
  for (let sent = 0; sent < 2 * limit + 8; sent += 4) {
    const statuses = await Promise.all(Array.from({ length: 4 }, send));
    if (statuses.includes(429)) return true;
  }
  return false;
}

/** Landing URLs of signed click links: absolute http(s), no credentials, bounded. */

export const MAX_LANDING_URL_LENGTH = 2048;

export type LandingUrlCheck = { ok: true; url: string } | { ok: false; reason: string };

/**
 * Validates a landing URL and returns its WHATWG serialization (ASCII: punycode host, percent-encoded
 * path), which is exactly what the link later redirects to.
 */
export function checkLandingUrl(raw: string): LandingUrlCheck {
  if (raw.length > MAX_LANDING_URL_LENGTH) return { ok: false, reason: `must be at most ${MAX_LANDING_URL_LENGTH} characters` };
  // The URL parser silently drops tabs/newlines and trims spaces; refuse them instead of guessing.
  if (/[\u0000-\u0020\u007f]/.test(raw)) return { ok: false, reason: "must not contain whitespace or control characters" };
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return { ok: false, reason: "must be an absolute URL" };
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") return { ok: false, reason: "must use http or https" };
  if (url.username || url.password) return { ok: false, reason: "must not contain credentials" };
  if (!url.hostname) return { ok: false, reason: "must have a host" };
  if (url.href.length > MAX_LANDING_URL_LENGTH) return { ok: false, reason: `must be at most ${MAX_LANDING_URL_LENGTH} characters once encoded` };
  return { ok: true, url: url.href };
}

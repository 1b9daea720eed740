import { z } from "zod";
import { checkLandingUrl } from "./link-url";

/**
 * Signed click-through link tokens: `base64url(payload JSON) "." base64url(HMAC-SHA256(key, payload part))`.
 * The payload is compact JSON `{c: campaign_id, a: ad_id, u: landing URL, i: click_id, e: expiry epoch s}`.
 * Verification checks the MAC (constant time, `crypto.subtle.verify`) before it parses anything.
 */

export interface LinkPayload {
  c: string;
  a: string;
  u: string;
  i: string;
  e: number;
}

/** Longest token accepted: a 2048-char URL and two 64-char ids, base64url-encoded, fit well within it. */
export const MAX_TOKEN_LENGTH = 4096;
export const MAX_LINK_ID_LENGTH = 64;
export const CLICK_ID_RE = /^[A-Za-z0-9_\-:.]{8,128}$/;
/** campaign_id / ad_id as the click event rules have them: 1-64 characters, no control characters. */
// eslint-disable-next-line no-control-regex
export const LINK_ID_RE = /^[^\u0000-\u001f\u007f]{1,64}$/;
const B64URL_RE = /^[A-Za-z0-9_-]+$/;
const MAC_BYTES = 32;

export type LinkFailure = { ok: false; code: "invalid_link" | "link_expired"; reason: string };
export type LinkVerification = { ok: true; payload: LinkPayload } | LinkFailure;

/** A fresh, unguessable click_id for one impression (valid under the click_id rules). */
export function newClickId(): string {
  return "lk_" + base64urlEncode(crypto.getRandomValues(new Uint8Array(16)));
}

export async function signLink(key: string, payload: LinkPayload): Promise<string> {
  const body = base64urlEncode(new TextEncoder().encode(JSON.stringify({ c: payload.c, a: payload.a, u: payload.u, i: payload.i, e: payload.e })));
  const mac = await crypto.subtle.sign("HMAC", await hmacKey(key), new TextEncoder().encode(body));
  return body + "." + base64urlEncode(new Uint8Array(mac));
}

const Payload = z.strictObject({
  c: z.string().regex(LINK_ID_RE),
  a: z.string().regex(LINK_ID_RE),
  u: z.string().refine((u) => checkLandingUrl(u).ok),
  i: z.string().regex(CLICK_ID_RE),
  e: z.number().int().nonnegative(),
});

/** Checks shape, signature, payload and expiry, in that order; an expired link is reported only if genuine. */
export async function verifyLink(key: string, token: string, nowMs: number): Promise<LinkVerification> {
  if (token.length > MAX_TOKEN_LENGTH) return fail("invalid_link", "token is too long");
  const parts = token.split(".");
  if (parts.length !== 2) return fail("invalid_link", "token is malformed");
  const [body, macText] = parts;
  const payloadBytes = base64urlDecode(body);
  const mac = base64urlDecode(macText);
  if (!payloadBytes || !mac || mac.length !== MAC_BYTES) return fail("invalid_link", "token is malformed");
  const genuine = await crypto.subtle.verify("HMAC", await hmacKey(key), mac, new TextEncoder().encode(body));
  if (!genuine) return fail("invalid_link", "signature does not match");

  let raw: unknown;
  try {
    raw = JSON.parse(new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(payloadBytes));
  } catch {
    return fail("invalid_link", "payload is not JSON");
  }
  const parsed = Payload.safeParse(raw);
  if (!parsed.success) return fail("invalid_link", "payload is invalid");
  if (nowMs >= parsed.data.e * 1000) return fail("link_expired", `link expired at ${new Date(parsed.data.e * 1000).toISOString()}`);
  return { ok: true, payload: parsed.data };
}

let cachedKey: { secret: string; key: Promise<CryptoKey> } | null = null;

function hmacKey(secret: string): Promise<CryptoKey> {
  if (!secret) throw new Error("click signing key is empty");
  if (cachedKey?.secret !== secret) {
    const key = crypto.subtle.importKey("raw", new TextEncoder().encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign", "verify"]);
    cachedKey = { secret, key };
  }
  return cachedKey.key;
}

function fail(code: LinkFailure["code"], reason: string): LinkFailure {
  return { ok: false, code, reason };
}

export function base64urlEncode(bytes: Uint8Array): string {
  let bin = "";
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** Strict base64url (no padding, canonical trailing bits); null when the text is not exactly that. */
export function base64urlDecode(text: string): Uint8Array | null {
  if (!B64URL_RE.test(text) || text.length % 4 === 1) return null;
  const b64 = text.replace(/-/g, "+").replace(/_/g, "/") + "=".repeat((4 - (text.length % 4)) % 4);
  let bin: string;
  try {
    bin = atob(b64);
  } catch {
    return null;
  }
  const bytes = Uint8Array.from(bin, (ch) => ch.charCodeAt(0));
  return base64urlEncode(bytes) === text ? bytes : null;
}

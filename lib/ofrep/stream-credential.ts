import { cyrb53 } from "../cyrb";

/**
 * Short-lived signed credentials for event-stream URLs. `EventSource` cannot send headers, so the
 * stream URL carries `exp` and `sig` = HMAC-SHA256(key, "ofrep-stream\n<namespace>\n<exp>"): scoped
 * to one namespace, valid until `exp`, never the reader token itself.
 *
 * Expiry windows are aligned per client (offset = hash of namespace + targeting key), so one client's
 * URL stays the same for a whole window (its bulk ETag stays stable) while the expiries of many
 * clients are spread evenly (no synchronized reconnect storm when a window ends).
 */
export const WINDOW_SECONDS = 1800;

const enc = new TextEncoder();
const keys = new Map<string, Promise<CryptoKey>>();

function importKey(secret: string): Promise<CryptoKey> {
  let k = keys.get(secret);
  if (!k) {
    k = crypto.subtle.importKey("raw", enc.encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign", "verify"]);
    if (keys.size > 8) keys.clear();
    keys.set(secret, k);
  }
  return k;
}

function b64url(bytes: ArrayBuffer): string {
  let s = "";
  for (const b of new Uint8Array(bytes)) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function fromB64url(s: string): Uint8Array<ArrayBuffer> | null {
  if (!/^[A-Za-z0-9_-]{43}$/.test(s)) return null;
  const bin = atob(s.replace(/-/g, "+").replace(/_/g, "/") + "=");
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

const message = (ns: string, exp: number) => enc.encode(`ofrep-stream\n${ns}\n${exp}`);

/** End of the client's current window plus one more: a credential lives WINDOW…2·WINDOW seconds. */
export function expiryFor(ns: string, clientKey: string, nowSeconds: number, window = WINDOW_SECONDS): number {
  const offset = cyrb53(ns + "\0" + clientKey) % window;
  const k = Math.floor((nowSeconds - offset) / window);
  return (k + 2) * window + offset;
}

export async function signStream(secret: string, ns: string, exp: number): Promise<string> {
  return b64url(await crypto.subtle.sign("HMAC", await importKey(secret), message(ns, exp)));
}

export type CredentialCheck = { ok: true; exp: number } | { ok: false; reason: "missing" | "malformed" | "expired" | "bad_signature" };

/** Checks `exp`/`sig` from a stream URL (constant-time HMAC verify). */
export async function verifyStream(secret: string, ns: string, expParam: string | undefined, sigParam: string | undefined, nowSeconds: number): Promise<CredentialCheck> {
  if (!expParam || !sigParam) return { ok: false, reason: "missing" };
  if (!/^[0-9]{1,12}$/.test(expParam)) return { ok: false, reason: "malformed" };
  const sig = fromB64url(sigParam);
  if (!sig) return { ok: false, reason: "malformed" };
  const exp = Number(expParam);
  if (exp <= nowSeconds) return { ok: false, reason: "expired" };
  const good = await crypto.subtle.verify("HMAC", await importKey(secret), sig, message(ns, exp));
  return good ? { ok: true, exp } : { ok: false, reason: "bad_signature" };
}

/**
 * The signing secret: STREAM_SIGNING_KEY, else a key derived from ADMIN_TOKEN (so a deployment with a
 * bootstrap admin works without another secret); null when neither is set (no event streams then).
 */
const derived = new Map<string, string>();

export async function streamSecret(env: { STREAM_SIGNING_KEY?: string; ADMIN_TOKEN?: string }): Promise<string | null> {
  if (env.STREAM_SIGNING_KEY) return env.STREAM_SIGNING_KEY;
  const admin = env.ADMIN_TOKEN;
  if (!admin) return null;
  let d = derived.get(admin);
  if (!d) {
    d = "derived:" + b64url(await crypto.subtle.sign("HMAC", await importKey(admin), enc.encode("edgeplane ofrep stream key v1")));
    derived.clear();
    derived.set(admin, d);
  }
  return d;
}

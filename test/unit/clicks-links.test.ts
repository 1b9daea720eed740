import { describe, expect, it } from "vitest";
import fc from "fast-check";
import {
  CLICK_ID_RE,
  MAX_TOKEN_LENGTH,
  base64urlDecode,
  base64urlEncode,
  newClickId,
  signLink,
  verifyLink,
  type LinkPayload,
} from "../../lib/clicks/link-token";
import { checkLandingUrl, MAX_LANDING_URL_LENGTH } from "../../lib/clicks/link-url";

const KEY = "unit-test-key-0123456789";
const NOW = Date.UTC(2026, 10, 25, 12, 0, 0);
const payload = (over: Partial<LinkPayload> = {}): LinkPayload => ({
  c: "camp-1",
  a: "ad-7",
  u: "https://shop.example/landing?x=1",
  i: "lk_abcdefgh12345678",
  e: NOW / 1000 + 60,
  ...over,
});

function flipChar(s: string, at: number): string {
  const ch = s[at] === "A" ? "B" : "A";
  return s.slice(0, at) + ch + s.slice(at + 1);
}

describe("signed click links", () => {
  it("round-trips a payload", async () => {
    const token = await signLink(KEY, payload());
    const r = await verifyLink(KEY, token, NOW);
    expect(r).toEqual({ ok: true, payload: payload() });
    expect(token).toMatch(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}$/);
  });

  it("round-trips arbitrary ids and URLs (property)", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.string({ minLength: 1, maxLength: 64 }),
        fc.string({ minLength: 1, maxLength: 64 }),
        fc.webUrl({ withQueryParameters: true, withFragments: true }),
        async (c, a, raw) => {
          const checked = checkLandingUrl(raw);
          fc.pre(checked.ok);
          const p = payload({ c, a, u: (checked as { url: string }).url });
          const r = await verifyLink(KEY, await signLink(KEY, p), NOW);
          expect(r).toEqual({ ok: true, payload: p });
        },
      ),
      { numRuns: 60 },
    );
  });

  it("rejects a tampered payload, even one that still decodes", async () => {
    const token = await signLink(KEY, payload());
    const [body, mac] = token.split(".");
    // Re-encode a different landing URL under the original MAC: the open-redirect attempt.
    const evil = base64urlEncode(new TextEncoder().encode(JSON.stringify({ ...payload(), u: "https://evil.example/" })));
    expect(await verifyLink(KEY, `${evil}.${mac}`, NOW)).toMatchObject({ ok: false, code: "invalid_link", reason: "signature does not match" });
    for (const at of [0, 5, body.length - 2]) {
      const r = await verifyLink(KEY, `${flipChar(body, at)}.${mac}`, NOW);
      expect(r.ok).toBe(false);
      expect((r as { code: string }).code).toBe("invalid_link");
    }
  });

  it("rejects a tampered signature", async () => {
    const token = await signLink(KEY, payload());
    const [body, mac] = token.split(".");
    for (const at of [0, 20, 41]) {
      expect(await verifyLink(KEY, `${body}.${flipChar(mac, at)}`, NOW)).toMatchObject({ ok: false, code: "invalid_link" });
    }
    // Truncated or extended MACs are malformed, not merely wrong.
    expect(await verifyLink(KEY, `${body}.${mac.slice(0, 40)}`, NOW)).toMatchObject({ ok: false, code: "invalid_link", reason: "token is malformed" });
    expect(await verifyLink(KEY, `${body}.${mac}AAAA`, NOW)).toMatchObject({ ok: false, code: "invalid_link" });
  });

  it("rejects a token signed with another key", async () => {
    const token = await signLink("some-other-key-9876543210", payload());
    expect(await verifyLink(KEY, token, NOW)).toMatchObject({ ok: false, code: "invalid_link", reason: "signature does not match" });
  });

  it("expires at e (epoch seconds), and says so only for genuine links", async () => {
    const e = NOW / 1000 + 60;
    const token = await signLink(KEY, payload({ e }));
    expect((await verifyLink(KEY, token, e * 1000 - 1)).ok).toBe(true);
    expect(await verifyLink(KEY, token, e * 1000)).toMatchObject({ ok: false, code: "link_expired" });
    expect(await verifyLink(KEY, token, e * 1000 + 86_400_000)).toMatchObject({ ok: false, code: "link_expired" });
    const forged = await signLink("wrong-key-wrong-key", payload({ e: 1 }));
    expect(await verifyLink(KEY, forged, NOW)).toMatchObject({ ok: false, code: "invalid_link" });
  });

  it("rejects malformed tokens", async () => {
    const token = await signLink(KEY, payload());
    const [body, mac] = token.split(".");
    const cases = [
      "",
      ".",
      body,
      `${body}.`,
      `.${mac}`,
      `${body}.${mac}.${mac}`,
      `${body}=.${mac}`,
      `${body}.${mac}=`,
      `${body.replace(/^./, "+")}.${mac}`,
      `${body}.${mac.replace(/^./, "/")}`,
      "x".repeat(MAX_TOKEN_LENGTH + 1),
      `${"A".repeat(MAX_TOKEN_LENGTH)}.${mac}`,
    ];
    for (const t of cases) {
      const r = await verifyLink(KEY, t, NOW);
      expect(r, t.slice(0, 30)).toMatchObject({ ok: false, code: "invalid_link" });
    }
  });

  it("rejects correctly signed payloads that are not valid links", async () => {
    const sign = async (obj: unknown) => {
      // Sign arbitrary JSON the way signLink would, to prove the payload is validated after the MAC.
      const body = base64urlEncode(new TextEncoder().encode(JSON.stringify(obj)));
      const key = await crypto.subtle.importKey("raw", new TextEncoder().encode(KEY), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
      const mac = new Uint8Array(await crypto.subtle.sign("HMAC", key, new TextEncoder().encode(body)));
      return `${body}.${base64urlEncode(mac)}`;
    };
    const good = payload();
    const bad: unknown[] = [
      { ...good, u: "javascript:alert(1)" },
      { ...good, u: "/relative" },
      { ...good, i: "short" },
      { ...good, c: "" },
      { ...good, e: "soon" },
      { ...good, extra: 1 },
      [good],
      "string",
    ];
    for (const obj of bad) {
      expect(await verifyLink(KEY, await sign(obj), NOW)).toMatchObject({ ok: false, code: "invalid_link", reason: "payload is invalid" });
    }
    const notJson = base64urlEncode(new TextEncoder().encode("{nope"));
    const key = await crypto.subtle.importKey("raw", new TextEncoder().encode(KEY), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
    const mac = base64urlEncode(new Uint8Array(await crypto.subtle.sign("HMAC", key, new TextEncoder().encode(notJson))));
    expect(await verifyLink(KEY, `${notJson}.${mac}`, NOW)).toMatchObject({ ok: false, reason: "payload is not JSON" });
    expect(await verifyLink(KEY, await sign(good), NOW)).toMatchObject({ ok: true });
  });

  it("mints unique click_ids that satisfy the click_id rules", () => {
    const ids = new Set(Array.from({ length: 500 }, () => newClickId()));
    expect(ids.size).toBe(500);
    for (const id of ids) expect(id).toMatch(CLICK_ID_RE);
  });

  it("base64url decoding is strict", () => {
    expect(base64urlDecode("")).toBeNull();
    expect(base64urlDecode("QQ")).toEqual(new Uint8Array([65]));
    expect(base64urlDecode("QR")).toBeNull(); // non-canonical trailing bits
    expect(base64urlDecode("QQ==")).toBeNull();
    expect(base64urlDecode("Q")).toBeNull();
    expect(base64urlDecode("+/")).toBeNull();
    fc.assert(fc.property(fc.uint8Array({ minLength: 1, maxLength: 100 }), (bytes) => {
      expect(base64urlDecode(base64urlEncode(bytes))).toEqual(bytes);
    }));
  });
});

describe("landing URLs", () => {
  it("accepts absolute http(s) URLs and returns their serialization", () => {
    expect(checkLandingUrl("https://shop.example/landing?x=1")).toEqual({ ok: true, url: "https://shop.example/landing?x=1" });
    expect(checkLandingUrl("http://shop.example")).toEqual({ ok: true, url: "http://shop.example/" });
    expect(checkLandingUrl("HTTPS://Shop.Example/ä#frag")).toEqual({ ok: true, url: "https://shop.example/%C3%A4#frag" });
    expect(checkLandingUrl("https://bücher.example/")).toEqual({ ok: true, url: "https://xn--bcher-kva.example/" });
  });

  it("refuses everything else", () => {
    const bad = [
      "javascript:alert(1)",
      "JavaScript:alert(1)",
      "data:text/html,hi",
      "ftp://files.example/x",
      "/relative/path",
      "//evil.example/",
      "relative",
      "https://user:pw@shop.example/",
      "https://user@shop.example/",
      " https://shop.example/",
      "https://shop.example/\nSet-Cookie: x",
      "https://shop.example/a b",
      "https://shop.example/\t",
      "https://",
      "",
      "https://shop.example/" + "a".repeat(MAX_LANDING_URL_LENGTH),
      // Fits raw, but percent-encoding pushes it past the limit.
      "https://shop.example/" + "ä".repeat(700),
    ];
    for (const u of bad) expect(checkLandingUrl(u).ok, u.slice(0, 40)).toBe(false);
  });
});

import { describe, expect, it } from "vitest";
import { parseRfc3339, validateEvent, type ValidationContext } from "../../lib/clicks/validate";

const NOW = Date.UTC(2026, 10, 25, 12, 0, 0);
const ctx: ValidationContext = { now: NOW, latenessMs: 86_400_000, skewMs: 300_000, region: "eu", trustEventRegion: false };
const good = { click_id: "click-0001", campaign_id: "c1", ad_id: "a1", ts: NOW - 1000 };

function code(raw: unknown, c: ValidationContext = ctx) {
  const v = validateEvent(raw, 7, c);
  return "code" in v ? v.code : "ok";
}

describe("validateEvent", () => {
  it("accepts a valid event and normalizes it", () => {
    expect(validateEvent(good, 0, ctx)).toEqual({ click_id: "click-0001", campaign_id: "c1", ad_id: "a1", region: "eu", ts: NOW - 1000 });
    expect(validateEvent({ ...good, extra: 1 }, 0, ctx)).toMatchObject({ click_id: "click-0001" });
  });

  it("rejects non-objects with the event index", () => {
    for (const raw of [null, 1, "x", [good], true]) {
      expect(validateEvent(raw, 7, ctx)).toMatchObject({ index: 7, code: "invalid" });
    }
  });

  it("checks click_id: type, 8-128 chars, charset", () => {
    expect(code({ ...good, click_id: undefined })).toBe("invalid");
    expect(code({ ...good, click_id: 12345678 })).toBe("invalid");
    expect(code({ ...good, click_id: "a".repeat(7) })).toBe("invalid");
    expect(code({ ...good, click_id: "a".repeat(8) })).toBe("ok");
    expect(code({ ...good, click_id: "a".repeat(128) })).toBe("ok");
    expect(code({ ...good, click_id: "a".repeat(129) })).toBe("invalid");
    expect(code({ ...good, click_id: "Az09_-:.Az09" })).toBe("ok");
    for (const bad of ["abcdefgh ", "abcd/efgh", "abcdéfgh", "abcd\nefgh", "abcd+efgh"]) expect(code({ ...good, click_id: bad })).toBe("invalid");
  });

  it("checks campaign_id and ad_id: non-empty strings of at most 64 chars, no control characters", () => {
    for (const f of ["campaign_id", "ad_id"]) {
      expect(code({ ...good, [f]: undefined })).toBe("invalid");
      expect(code({ ...good, [f]: 5 })).toBe("invalid");
      expect(code({ ...good, [f]: "" })).toBe("invalid");
      expect(code({ ...good, [f]: "x".repeat(64) })).toBe("ok");
      expect(code({ ...good, [f]: "x".repeat(65) })).toBe("invalid");
      expect(code({ ...good, [f]: "a\u0000b" })).toBe("invalid");
      expect(code({ ...good, [f]: "Spring Sale 2026 ✓" })).toBe("ok");
    }
  });

  it("accepts ts as epoch ms or RFC 3339 and rejects everything else", () => {
    expect(validateEvent({ ...good, ts: "2026-11-25T11:59:30Z" }, 0, ctx)).toMatchObject({ ts: NOW - 30_000 });
    expect(validateEvent({ ...good, ts: "2026-11-25T12:59:30+01:00" }, 0, ctx)).toMatchObject({ ts: NOW - 30_000 });
    expect(validateEvent({ ...good, ts: "2026-11-25t11:59:30.123456z" }, 0, ctx)).toMatchObject({ ts: NOW - 30_000 + 123 });
    expect(validateEvent({ ...good, ts: NOW - 0.5 }, 0, ctx)).toMatchObject({ ts: NOW - 1 });
    for (const bad of [undefined, null, true, {}, [], "", "yesterday", "2026-11-25", "2026-11-25T11:59:30", "2026-13-01T00:00:00Z", "2026-02-29T00:00:00Z", "2026-11-25T24:00:00Z", "1764072000000", Infinity]) {
      expect(code({ ...good, ts: bad })).toBe("invalid");
    }
    expect(parseRfc3339("2024-02-29T00:00:00Z")).toBe(Date.UTC(2024, 1, 29));
    expect(parseRfc3339("2026-06-30T23:59:60Z")).toBe(Date.UTC(2026, 5, 30, 23, 59, 59));
  });

  it("too_late and future at their exact boundaries", () => {
    expect(code({ ...good, ts: NOW - 86_400_000 })).toBe("ok");
    expect(code({ ...good, ts: NOW - 86_400_001 })).toBe("too_late");
    expect(code({ ...good, ts: NOW + 300_000 })).toBe("ok");
    expect(code({ ...good, ts: NOW + 300_001 })).toBe("future");
    expect(code({ ...good, ts: 0 })).toBe("too_late");
    expect(code({ ...good, ts: NOW / 1000 })).toBe("too_late"); // seconds, not ms
    expect(validateEvent({ ...good, ts: NOW + 400_000 }, 3, ctx)).toMatchObject({ index: 3, code: "future", message: expect.stringContaining("300") });
  });

  it("reports invalid before too_late", () => {
    expect(code({ ...good, click_id: "x", ts: 0 })).toBe("invalid");
  });

  it("honours an event's region only for trusted callers, and validates it then", () => {
    expect(validateEvent({ ...good, region: "as" }, 0, ctx)).toMatchObject({ region: "eu" });
    expect(validateEvent({ ...good, region: "not valid!" }, 0, ctx)).toMatchObject({ region: "eu" });
    const trusted = { ...ctx, trustEventRegion: true };
    expect(validateEvent({ ...good, region: "AS" }, 0, trusted)).toMatchObject({ region: "as" });
    expect(validateEvent(good, 0, trusted)).toMatchObject({ region: "eu" });
    expect(code({ ...good, region: "not valid!" }, trusted)).toBe("invalid");
    expect(code({ ...good, region: 5 }, trusted)).toBe("invalid");
  });
});

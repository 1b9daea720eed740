import { describe, expect, it } from "vitest";
import { clickBodyFormat, parseClickBody } from "../../lib/clicks/body";
import { ApiError } from "../../lib/errors";

function err(fn: () => unknown): { status: number; code: string } {
  try {
    fn();
  } catch (e) {
    if (e instanceof ApiError) return { status: e.status, code: e.code };
    throw e;
  }
  throw new Error("did not throw");
}

describe("click body formats", () => {
  it("maps content types; anything else is 415", () => {
    expect(clickBodyFormat("application/json")).toBe("json");
    expect(clickBodyFormat("Application/JSON; charset=utf-8")).toBe("json");
    expect(clickBodyFormat("text/plain;charset=UTF-8")).toBe("json");
    expect(clickBodyFormat("application/x-ndjson")).toBe("ndjson");
    for (const ct of [undefined, "", "text/html", "application/xml", "multipart/form-data; boundary=x"]) {
      expect(err(() => clickBodyFormat(ct))).toEqual({ status: 415, code: "unsupported_media_type" });
    }
  });

  it("parses the JSON envelope", () => {
    expect(parseClickBody("json", '{"events":[{"a":1},2]}')).toEqual([{ a: 1 }, 2]);
    expect(parseClickBody("json", '{"events":[]}')).toEqual([]);
    expect(err(() => parseClickBody("json", "{nope"))).toEqual({ status: 400, code: "invalid_json" });
    expect(err(() => parseClickBody("json", ""))).toEqual({ status: 400, code: "invalid_json" });
    for (const body of ["[]", "null", "5", '{"event":[]}', '{"events":{}}', '{"events":"x"}']) {
      expect(err(() => parseClickBody("json", body))).toEqual({ status: 400, code: "invalid_body" });
    }
  });

  it("parses NDJSON, ignoring blank lines and CRLF", () => {
    expect(parseClickBody("ndjson", '{"a":1}\r\n\n  \n{"b":2}\n')).toEqual([{ a: 1 }, { b: 2 }]);
    expect(parseClickBody("ndjson", "")).toEqual([]);
    expect(err(() => parseClickBody("ndjson", '{"a":1}\n{oops'))).toEqual({ status: 400, code: "invalid_json" });
  });

  it("refuses more than 1000 events with 413 too_many_events", () => {
    const ev = JSON.stringify({ a: 1 });
    expect(parseClickBody("json", `{"events":[${Array(1000).fill(ev).join(",")}]}`)).toHaveLength(1000);
    expect(err(() => parseClickBody("json", `{"events":[${Array(1001).fill(ev).join(",")}]}`))).toEqual({ status: 413, code: "too_many_events" });
    expect(parseClickBody("ndjson", Array(1000).fill(ev).join("\n"))).toHaveLength(1000);
    expect(err(() => parseClickBody("ndjson", Array(1001).fill(ev).join("\n")))).toEqual({ status: 413, code: "too_many_events" });
  });
});

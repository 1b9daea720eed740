import { describe, expect, it } from "vitest";
import { jsonNestingDepth } from "../../lib/json-depth";

describe("jsonNestingDepth", () => {
  it("measures the deepest array/object nesting", () => {
    expect(jsonNestingDepth("1")).toBe(0);
    expect(jsonNestingDepth("{}")).toBe(1);
    expect(jsonNestingDepth('{"a":[1,{"b":[]}],"c":{}}')).toBe(4);
    expect(jsonNestingDepth("[".repeat(500) + "]".repeat(500))).toBe(500);
  });
  it("ignores brackets inside strings, escaped quotes included", () => {
    expect(jsonNestingDepth('{"a":"[[[{{{"}')).toBe(1);
    expect(jsonNestingDepth('{"a":"x\\"[[[","b":["\\\\"]}')).toBe(2);
  });
});

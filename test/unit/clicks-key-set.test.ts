import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { clickKey, keyHex } from "../../lib/clicks/hash";
import { keyHalves } from "../../lib/clicks/key-bloom";
import { KeySet, parseKeyList } from "../../lib/clicks/key-set";

const halves = fc.tuple(fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), fc.integer({ min: 0, max: 2 ** 32 - 1 }));

describe("KeySet", () => {
  it("holds exactly the keys a Set of their keyHex strings holds, through growth", () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(halves, fc.constantFrom<[number, number]>([0, 0], [-1, 0xffffffff], [-(2 ** 31), 1])), { maxLength: 400 }), (keys) => {
        const set = new KeySet(2);
        const truth = new Set<string>();
        for (const [hi, lo] of keys) {
          const hex = keyHex(hi, lo);
          expect(set.has(hi, lo)).toBe(truth.has(hex));
          expect(set.add(hi, lo)).toBe(!truth.has(hex));
          truth.add(hex);
          expect(set.has(hi, lo)).toBe(true);
        }
        expect(set.size).toBe(truth.size);
        const { his, los } = set.halves();
        expect(new Set(Array.from(his, (hi, i) => keyHex(hi, los[i])))).toEqual(truth);
      }),
    );
  });

  it("tells apart keys that differ in one half only", () => {
    const set = new KeySet();
    set.add(7, 9);
    expect(set.has(7, 10)).toBe(false);
    expect(set.has(8, 9)).toBe(false);
    expect(set.has(7, 9)).toBe(true);
    // a uint32 low half and its int32 reading are the same key
    set.add(1, 0xffffffff);
    expect(set.has(1, -1)).toBe(true);
  });

  it("keeps 100 000 click keys (probes stay short at half load)", () => {
    const set = new KeySet();
    for (let i = 0; i < 100_000; i++) set.add(...clickKey(`click-${i}`));
    expect(set.size).toBe(100_000);
    for (let i = 0; i < 100_000; i += 997) expect(set.has(...clickKey(`click-${i}`))).toBe(true);
    expect(set.has(...clickKey("click-100000"))).toBe(false);
  });
});

describe("parseKeyList", () => {
  it("reads a keyHex list as keyHalves reads each key", () => {
    fc.assert(
      fc.property(fc.array(halves, { maxLength: 50 }), (keys) => {
        const hexes = keys.map(([hi, lo]) => keyHex(hi, lo));
        const { his, los } = parseKeyList("[" + hexes.join(",") + "]");
        expect(Array.from(his, (hi, i) => [hi, los[i]])).toEqual(hexes.map(keyHalves));
      }),
    );
  });

  it("reads keys of other widths and cases as SQLite's JSON5 would", () => {
    const { his, los } = parseKeyList("[0x100000002, 0X1f,0xABCDEF0123456789]");
    expect(Array.from(his)).toEqual([1, 0, 0xabcdef01 | 0]);
    expect(Array.from(los)).toEqual([2, 31, 0x23456789]);
    expect(parseKeyList("[]").his.length).toBe(0);
  });

  it("refuses what is not a list of 64-bit hexadecimal keys", () => {
    for (const bad of ["", "0x1", "[0x1", "[1,2]", "[0x]", "[0x10000000000000000]", "[0xzz]", "[0x1,]", '["0x1"]']) {
      expect(() => parseKeyList(bad), bad).toThrow(TypeError);
    }
    // a fixed-width list with a bad digit or separator is not misread
    const good = keyHex(5, 6);
    expect(() => parseKeyList(`[${good.slice(0, 17)}g]`)).toThrow(TypeError);
    expect(() => parseKeyList(`[${good};${good}]`)).toThrow(TypeError);
  });
});

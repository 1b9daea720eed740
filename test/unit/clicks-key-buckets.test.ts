import { describe, expect, it } from "vitest";
import { clickKey, keyHex } from "../../lib/clicks/hash";
import { BUCKET_BITS, bucketHas, bucketOf, packHalves } from "../../lib/clicks/key-buckets";
import { keyHalves } from "../../lib/clicks/key-bloom";
import { sliceOfKey } from "../../lib/clicks/dedup-keys";
import { parseKeyList } from "../../lib/clicks/key-set";

const keys = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => keyHex(...clickKey(`${prefix}-${i}`)));
const bucketOfKey = (hex: string, bits?: number) => bucketOf(keyHalves(hex)[0], bits);
/** keyHex keys packed as a merge packs them (its keys come as halves from parseKeyList). */
const packByBucket = (ks: string[], bits?: number) => {
  const { his, los } = parseKeyList("[" + ks.join(",") + "]");
  return packHalves(his, los, bits);
};

describe("key buckets", () => {
  it("a key's bucket is its top bits, so a key slice (top 4 bits) is a contiguous range of buckets", () => {
    expect(bucketOfKey("0x0000000000000000")).toBe(0);
    expect(bucketOfKey("0xffffffffffffffff")).toBe(2 ** BUCKET_BITS - 1);
    expect(bucketOfKey("0xabc0000000000000")).toBe(0xabc);
    expect(bucketOfKey("0xabcdef0000000000", 20)).toBe(0xabcde);
    for (const k of keys("slice", 2_000)) expect(bucketOfKey(k) >>> (BUCKET_BITS - 4)).toBe(sliceOfKey(k));
  });

  it("packs keys bucket by bucket: each run holds exactly its bucket's keys, as 8-byte big-endian values", () => {
    // the extremes, and keys whose bytes include 0x00 and 0xff (they travel as BLOB, never as text)
    const ks = [...keys("pack", 3_000), "0x0000000000000000", "0xffffffffffffffff", "0x00ff00ff00ff00ff", "0x8000000000000001"];
    const { blob, runs } = packByBucket(ks);
    expect(blob.byteLength).toBe(ks.length * 8);
    expect(runs.map((r) => r[0])).toEqual([...new Set(ks.map((k) => bucketOfKey(k)))].sort((a, b) => a - b));
    const seen: string[] = [];
    for (const [bucket, offset, bytes] of runs) {
      const part = blob.slice(offset - 1, offset - 1 + bytes);
      const view = new DataView(part);
      for (let o = 0; o < bytes; o += 8) {
        const k = "0x" + view.getUint32(o).toString(16).padStart(8, "0") + view.getUint32(o + 4).toString(16).padStart(8, "0");
        expect(bucketOfKey(k)).toBe(bucket);
        seen.push(k);
      }
    }
    expect(seen.sort()).toEqual([...ks].sort());
  });

  it("finds exactly the keys a bucket holds, with no match across two neighbouring keys", () => {
    const ks = keys("find", 500);
    const { blob } = packByBucket(ks, 1); // two buckets: scan the whole blob as one
    for (const k of ks) expect(bucketHas(blob, ...keyHalves(k))).toBe(true);
    for (const k of keys("absent", 2_000)) expect(bucketHas(blob, ...keyHalves(k))).toBe(false);
    // the 8 bytes straddling two stored keys are not a key of the bucket
    const two = packByBucket(["0x1111111122222222", "0x3333333344444444"], 1).blob;
    expect(bucketHas(two, ...keyHalves("0x2222222233333333"))).toBe(false);
    expect(bucketHas(new ArrayBuffer(0), 0, 0)).toBe(false);
  });

  it("refuses bucket widths it cannot count", () => {
    const ks = [...keys("halves", 1_000), "0xffffffffffffffff", "0x8000000000000000"];
    const { his, los } = parseKeyList("[" + ks.join(",") + "]");
    expect(() => packHalves(his, los, 0)).toThrow(RangeError);
    expect(() => packHalves(his, los, 25)).toThrow(RangeError);
    expect(packHalves(his, los, 24).runs.reduce((n, r) => n + r[2], 0)).toBe(ks.length * 8);
  });
});

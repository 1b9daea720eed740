import { describe, expect, it } from "vitest";
import { clickKey, keyHex } from "../../lib/clicks/hash";
import { BITS_PER_KEY, BloomChain, KeyBloom, keyHalves, linkBitsPerKey, MAX_LINK_BYTES } from "../../lib/clicks/key-bloom";

describe("KeyBloom", () => {
  it("never forgets a key it was given (no false negatives)", () => {
    const bloom = new KeyBloom(20_000 * BITS_PER_KEY);
    const keys = Array.from({ length: 20_000 }, (_, i) => clickKey(`click-${i}`));
    for (const [hi, lo] of keys) bloom.add(hi, lo);
    for (const [hi, lo] of keys) expect(bloom.mightContain(hi, lo)).toBe(true);
    expect(bloom.added).toBe(20_000);
  });

  it("answers 'absent' for about 99 % of other keys at capacity", () => {
    const bloom = new KeyBloom(50_000 * BITS_PER_KEY);
    expect(bloom.capacity).toBeGreaterThanOrEqual(50_000);
    for (let i = 0; i < bloom.capacity; i++) bloom.add(...clickKey(`in-${i}`));
    let positives = 0;
    const trials = 50_000;
    for (let i = 0; i < trials; i++) if (bloom.mightContain(...clickKey(`out-${i}`))) positives++;
    expect(positives / trials).toBeLessThan(0.02);
    expect(positives).toBeGreaterThan(0); // it is a Bloom filter, not a set
  });

  it("rounds its size up to whole 32-bit words (at least 1024 bits), not to a power of two", () => {
    expect(new KeyBloom(1).bits).toBe(1024);
    expect(new KeyBloom(5000).bits).toBe(5024);
    expect(KeyBloom.forKeys(100_000).bits).toBe(100_000 * BITS_PER_KEY);
  });

  it("is stored and restored as its bytes, with the same answers and count", () => {
    const bloom = KeyBloom.forKeys(3_000);
    for (let i = 0; i < 3_000; i++) bloom.add(...clickKey(`kept-${i}`));
    const copy = KeyBloom.fromBytes(bloom.bytes(), bloom.added);
    expect(copy.bits).toBe(bloom.bits);
    expect(copy.added).toBe(3_000);
    for (let i = 0; i < 3_000; i++) expect(copy.mightContain(...clickKey(`kept-${i}`))).toBe(true);
    for (let i = 0; i < 3_000; i++) expect(copy.mightContain(...clickKey(`other-${i}`))).toBe(bloom.mightContain(...clickKey(`other-${i}`)));
  });
});

describe("BloomChain", () => {
  it("grows by tighter links when full, never forgets a key, and stays near 1.5 % false positives", () => {
    const chain = BloomChain.forKeys(1024);
    const keys = Array.from({ length: 60_000 }, (_, i) => clickKey(`chained-${i}`));
    for (const [hi, lo] of keys) chain.add(hi, lo);
    expect(chain.added).toBe(60_000);
    // each new link is sized for twice the keys held so far: a few links, not one per 1 024 keys
    expect(chain.links.length).toBeGreaterThanOrEqual(3);
    expect(chain.links.length).toBeLessThanOrEqual(6);
    chain.links.forEach((l, i) => {
      expect(l.bitsPerKey).toBe(linkBitsPerKey(i));
      expect(l.byteLength).toBeLessThanOrEqual(MAX_LINK_BYTES);
      if (i < chain.links.length - 1) expect(l.added).toBe(l.capacity); // a link takes keys until it is full
    });
    expect([...chain.dirty].sort()).toEqual(chain.links.map((_, i) => i));
    for (const [hi, lo] of keys) expect(chain.mightContain(hi, lo)).toBe(true);
    let positives = 0;
    for (let i = 0; i < 50_000; i++) if (chain.mightContain(...clickKey(`absent-${i}`))) positives++;
    expect(positives / 50_000).toBeLessThan(0.025);
  });

  it("tightens each link: 10, 12, 14, then 16 bits per key", () => {
    expect([0, 1, 2, 3, 4, 9].map(linkBitsPerKey)).toEqual([10, 12, 14, 16, 16, 16]);
  });
});

describe("keyHalves", () => {
  it("inverts keyHex, negative high halves included", () => {
    for (const id of ["a", "click-1", "zzzzzzzzzzzz", "0123456789"]) {
      const [hi, lo] = clickKey(id);
      expect(keyHalves(keyHex(hi, lo))).toEqual([hi, lo]);
    }
    expect(keyHalves(keyHex(-1, 0xffffffff))).toEqual([-1, 0xffffffff]);
    expect(keyHalves(keyHex(-2147483648, 0))).toEqual([-2147483648, 0]);
  });
});

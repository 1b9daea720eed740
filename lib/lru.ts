/** A Map bounded to `max` entries that evicts the least recently used one (get and set count as use). */
export class LruMap<K, V> {
  private readonly map = new Map<K, V>();

  constructor(readonly max: number) {
    if (!(max >= 1)) throw new RangeError("LruMap needs max >= 1");
  }

  get size(): number {
    return this.map.size;
  }

  get(key: K): V | undefined {
    const v = this.map.get(key);
    if (v === undefined) return undefined;
    this.map.delete(key); // Map keeps insertion order: re-inserting marks it the most recent
    this.map.set(key, v);
    return v;
  }

  set(key: K, value: V): void {
    this.map.delete(key);
    this.map.set(key, value);
    if (this.map.size > this.max) this.map.delete(this.map.keys().next().value as K);
  }

  delete(key: K): boolean {
    return this.map.delete(key);
  }

  clear(): void {
    this.map.clear();
  }
}

/**
 * Positive and negative lookups kept apart, each LRU-bounded: a flood of bad credentials can only
 * evict other negatives, never a valid entry. Entries carry their own expiry.
 */
export class VerdictCache<V> {
  private readonly valid: LruMap<string, { value: V; until: number }>;
  private readonly invalid: LruMap<string, number>;

  constructor(maxValid: number, maxInvalid: number) {
    this.valid = new LruMap(maxValid);
    this.invalid = new LruMap(maxInvalid);
  }

  /** `{hit: true, value}` (value null = known invalid) while an entry is live, else `{hit: false}`. */
  get(key: string, now: number): { hit: true; value: V | null } | { hit: false } {
    const v = this.valid.get(key);
    if (v && v.until > now) return { hit: true, value: v.value };
    const until = this.invalid.get(key);
    if (until !== undefined && until > now) return { hit: true, value: null };
    return { hit: false };
  }

  setValid(key: string, value: V, until: number): void {
    this.invalid.delete(key);
    this.valid.set(key, { value, until });
  }

  setInvalid(key: string, until: number): void {
    this.valid.delete(key);
    this.invalid.set(key, until);
  }

  clear(): void {
    this.valid.clear();
    this.invalid.clear();
  }
}

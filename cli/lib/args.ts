import { InvalidArgumentError } from "commander";
import { parseDuration } from "./duration.ts";

/**
 * Commander argument parsers that reject bad values as usage errors (exit 2).
 */

export function intArg(range: { min?: number; max?: number } = {}) {
  return (v: string): number => {
    if (!/^-?\d+$/.test(v.trim())) throw new InvalidArgumentError("must be an integer.");
    const n = Number(v);
    if (range.min !== undefined && n < range.min) throw new InvalidArgumentError(`must be ≥ ${range.min}.`);
    if (range.max !== undefined && n > range.max) throw new InvalidArgumentError(`must be ≤ ${range.max}.`);
    return n;
  };
}

export function numberArg(range: { min?: number; max?: number } = {}) {
  return (v: string): number => {
    const n = Number(v);
    if (v.trim() === "" || !Number.isFinite(n)) throw new InvalidArgumentError("must be a number.");
    if (range.min !== undefined && n < range.min) throw new InvalidArgumentError(`must be ≥ ${range.min}.`);
    if (range.max !== undefined && n > range.max) throw new InvalidArgumentError(`must be ≤ ${range.max}.`);
    return n;
  };
}

/** A duration (`90`, `30s`, `15m`, `1h`, `7d`) → seconds. */
export function durationArg(v: string): number {
  const s = parseDuration(v);
  if (s === null || s <= 0) throw new InvalidArgumentError("must be a duration like 90s, 15m, 1h or 7d.");
  return s;
}

const NAMESPACE_RE = /^[a-z0-9][a-z0-9_-]{0,62}$/;

/** A namespace name, checked locally so a typo fails fast with exit 2. */
export function namespaceArg(v: string): string {
  if (!NAMESPACE_RE.test(v)) throw new InvalidArgumentError("must be lowercase letters, digits, '-' or '_' (1–63 chars, starting with a letter or digit).");
  return v;
}

/** `a,b,c` → ["a","b","c"]; `*` stays ["*"]. */
export function listArg(v: string): string[] {
  const items = v.split(",").map((s) => s.trim()).filter(Boolean);
  if (items.length === 0) throw new InvalidArgumentError("must list at least one value.");
  return items;
}

/**
 * Is a regular expression safe to run against untrusted strings? Decided by recheck
 * (makenowjust-labs/recheck, "the trustworthy ReDoS checker"), not by a home-made heuristic.
 *
 * Why recheck, and how it is run:
 * - Its browser build is plain JavaScript (Scala.js), with no eval, worker threads or child
 *   processes, so it runs inside workerd as well as on Node 20+; we import that build directly
 *   (the package's main entry starts a native binary or a worker thread, which workerd cannot).
 * - Only the automaton checker is used: it decides from the pattern alone (no fuzzing, so the result
 *   is deterministic) and either proves a pattern linear or finds an attack. Patterns it cannot
 *   analyse (backreferences, lookaround, NFAs past its size limits) come back "unknown" and are
 *   refused like vulnerable ones: only a pattern proven safe is accepted.
 * - Its own time limit cannot work in a Worker (the clock does not advance during synchronous code),
 *   so its work is bounded by the sizes we allow instead: patterns of at most MAX_PATTERN_LENGTH
 *   characters, analysed with recheck's pattern/NFA size limits lowered (MAX_NFA_SIZE).
 * - Loaded lazily (dynamic import): the 2.9 MB checker is evaluated only by isolates that check a
 *   schema, never on the config-read or click paths.
 * A linear-time engine (re2js) was the alternative; it would make matching safe but cannot tell a
 * caller which pattern is the problem, and SPEC asks to refuse such schemas with the pointer.
 */
export const MAX_PATTERN_LENGTH = 1000;
const MAX_NFA_SIZE = 5000;

export type RegexVerdict = { safe: true } | { safe: false; reason: string };

type CheckSync = (source: string, flags: string, params?: Record<string, unknown>) => {
  status: "safe" | "vulnerable" | "unknown";
  complexity?: { type?: string; summary?: string } | null;
  attack?: { pattern?: string } | null;
  error?: { kind?: string; message?: string } | null;
};

let checker: Promise<CheckSync> | null = null;
function loadChecker(): Promise<CheckSync> {
  // @ts-expect-error the browser build has no type declarations of its own (index.d.ts describes the same API)
  checker ??= import("recheck/lib/browser.js").then((m: { checkSync: CheckSync }) => m.checkSync);
  return checker;
}

const verdicts = new Map<string, RegexVerdict>();

/** Proves `source` (with JSON Schema's "u" flag) linear-time, or says why not. */
export async function regexVerdict(source: string): Promise<RegexVerdict> {
  if (source.length > MAX_PATTERN_LENGTH) return { safe: false, reason: `longer than ${MAX_PATTERN_LENGTH} characters` };
  const known = verdicts.get(source);
  if (known) return known;
  const checkSync = await loadChecker();
  const r = checkSync(source, "u", { checker: "automaton", timeout: null, randomSeed: 0, maxPatternSize: MAX_PATTERN_LENGTH, maxNFASize: MAX_NFA_SIZE });
  let verdict: RegexVerdict;
  if (r.status === "safe") verdict = { safe: true };
  else if (r.status === "vulnerable") {
    const kind = r.complexity?.summary ?? r.complexity?.type ?? "super-linear";
    verdict = { safe: false, reason: `can take ${kind} time (ReDoS)${r.attack?.pattern ? `, e.g. on ${r.attack.pattern}` : ""}` };
  } else {
    verdict = { safe: false, reason: `cannot be proven linear-time (${r.error?.kind ?? "unsupported"}: backreferences, lookaround and very large patterns are not accepted)` };
  }
  if (verdicts.size >= 1000) verdicts.clear();
  verdicts.set(source, verdict);
  return verdict;
}

import pc from "picocolors";

/**
 * Whether to colour a stream: never with NO_COLOR or --no-color, never when piped (non-TTY) or on a
 * dumb terminal, unless FORCE_COLOR asks for it.
 */
export function colorEnabled(stream: NodeJS.WriteStream, opts: { color?: boolean } = {}): boolean {
  if (opts.color === false) return false;
  const env = process.env;
  if ("NO_COLOR" in env && env.NO_COLOR !== "") return false;
  if (env.FORCE_COLOR && env.FORCE_COLOR !== "0") return true;
  return Boolean(stream.isTTY) && env.TERM !== "dumb";
}

export type Colors = ReturnType<typeof pc.createColors>;

export function colors(enabled: boolean): Colors {
  return pc.createColors(enabled);
}

const ANSI_RE = /\x1b\[[0-9;?]*[A-Za-z]/g;

export function stripAnsi(s: string): string {
  return s.replace(ANSI_RE, "");
}

/** Display width ignoring ANSI escapes. */
export function visibleLength(s: string): number {
  return [...stripAnsi(s)].length;
}

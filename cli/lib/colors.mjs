import pc from "picocolors";

/**
 * Whether to colour a stream: never with NO_COLOR or --no-color, never when piped (non-TTY) or on a
 * dumb terminal, unless FORCE_COLOR asks for it.
 * @param {NodeJS.WriteStream} stream
 * @param {{color?: boolean}} [opts]
 */
export function colorEnabled(stream, opts = {}) {
  if (opts.color === false) return false;
  const env = process.env;
  if ("NO_COLOR" in env && env.NO_COLOR !== "") return false;
  if (env.FORCE_COLOR && env.FORCE_COLOR !== "0") return true;
  return Boolean(stream.isTTY) && env.TERM !== "dumb";
}

/** @typedef {ReturnType<typeof pc.createColors>} Colors */

/** @param {boolean} enabled @returns {Colors} */
export function colors(enabled) {
  return pc.createColors(enabled);
}

const ANSI_RE = /\x1b\[[0-9;?]*[A-Za-z]/g;

/** @param {string} s */
export function stripAnsi(s) {
  return s.replace(ANSI_RE, "");
}

/** Display width ignoring ANSI escapes. @param {string} s */
export function visibleLength(s) {
  return [...stripAnsi(s)].length;
}

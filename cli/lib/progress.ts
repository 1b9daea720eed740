import { stripAnsi, visibleLength } from "./colors.ts";

/**
 * A fixed-width progress bar for a percentage (0–100), e.g. `[██████░░░░░░]`.
 */
export function bar(percent: number, width = 20, unicode = true): string {
  const p = Math.max(0, Math.min(100, Number.isFinite(percent) ? percent : 0));
  const filled = Math.round((p / 100) * width);
  const [full, empty] = unicode ? ["█", "░"] : ["#", "-"];
  return `[${full.repeat(filled)}${empty.repeat(width - filled)}]`;
}

/**
 * Redraws a block of lines in place on a TTY (cursor up + clear), or does nothing fancy otherwise.
 */
export class LiveBlock {
  readonly stream: NodeJS.WriteStream;
  lines = 0;

  constructor(stream: NodeJS.WriteStream) {
    this.stream = stream;
  }

  render(lines: string[]): void {
    // A line wider than the terminal wraps and breaks the cursor arithmetic: clip it (losing its colour).
    const cols = this.stream.columns || 0;
    if (cols > 1) lines = lines.map((l) => (visibleLength(l) >= cols ? [...stripAnsi(l)].slice(0, cols - 2).join("") + "…" : l));
    let s = "";
    if (this.lines > 0) s += `\x1b[${this.lines}A`;
    for (const l of lines) s += `\x1b[2K${l}\n`;
    // Clear leftovers when the block got shorter.
    const extra = this.lines - lines.length;
    for (let i = 0; i < extra; i++) s += "\x1b[2K\n";
    if (extra > 0) s += `\x1b[${extra}A`;
    this.stream.write(s);
    this.lines = lines.length;
  }
}

import type { Command } from "commander";
import { colorEnabled, colors, type Colors } from "./colors.ts";
import { resolveConnection } from "./config.ts";
import { Client } from "./http.ts";

/**
 * Everything a command needs: the API client, output helpers and colour decisions. Built from the
 * command's options merged with the global ones (`--url`, `--token`, `--json`, `--no-color`).
 */
export interface Ctx {
  client: Client;
  json: boolean;
  tty: boolean;
  c: Colors;
  ce: Colors;
  out: (text?: string) => void;
  info: (text?: string) => void;
  warn: (text: string) => void;
  printJson: (value: unknown) => void;
  write: (text: string) => void;
}

export function contextFor(command: Command, how: { serverOption?: string } = {}): Ctx {
  const opts = command.optsWithGlobals<{ url?: string; token?: string; json?: boolean; color?: boolean }>();
  let url = opts.url;
  if (how.serverOption) {
    // This leaf's --url means something else: the server comes from its own option or the program's --url.
    let root = command;
    while (root.parent) root = root.parent;
    url = command.opts()[how.serverOption] ?? root.opts().url;
  }
  const conn = resolveConnection({ url, token: opts.token });
  // --no-color may sit on the program or the leaf; the leaf's default (true) must not undo it.
  for (let cmd: Command | null = command; cmd; cmd = cmd.parent) if (cmd.opts().color === false) opts.color = false;
  const stdoutColor = colorEnabled(process.stdout, opts);
  const stderrColor = colorEnabled(process.stderr, opts);
  const ce = colors(stderrColor);
  const warn = (text: string) => process.stderr.write(`${ce.yellow("warning:")} ${text}\n`);
  if (conn.warning) warn(conn.warning);
  return {
    client: new Client({ url: conn.url, token: conn.token }),
    json: Boolean(opts.json),
    tty: Boolean(process.stdout.isTTY),
    c: colors(stdoutColor),
    ce,
    out: (text = "") => process.stdout.write(text + "\n"),
    info: (text = "") => process.stderr.write(text + "\n"),
    warn,
    printJson: (value) => process.stdout.write(JSON.stringify(value, null, 2) + "\n"),
    write: (text) => process.stdout.write(text),
  };
}

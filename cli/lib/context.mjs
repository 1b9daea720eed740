import { colorEnabled, colors } from "./colors.mjs";
import { resolveConnection } from "./config.mjs";
import { Client } from "./http.mjs";

/**
 * Everything a command needs: the API client, output helpers and colour decisions. Built from the
 * command's options merged with the global ones (`--url`, `--token`, `--json`, `--no-color`).
 * @typedef {{
 *   client: Client,
 *   json: boolean,
 *   tty: boolean,
 *   c: import("./colors.mjs").Colors,
 *   ce: import("./colors.mjs").Colors,
 *   out: (text?: string) => void,
 *   info: (text?: string) => void,
 *   warn: (text: string) => void,
 *   printJson: (value: unknown) => void,
 *   write: (text: string) => void,
 * }} Ctx
 */

/**
 * @param {import("commander").Command} command
 * @param {{serverOption?: string}} [how]
 * @returns {Ctx}
 */
export function contextFor(command, how = {}) {
  const opts = command.optsWithGlobals();
  let url = opts.url;
  if (how.serverOption) {
    // This leaf's --url means something else: the server comes from its own option or the program's --url.
    let root = command;
    while (root.parent) root = root.parent;
    url = command.opts()[how.serverOption] ?? root.opts().url;
  }
  const conn = resolveConnection({ url, token: opts.token });
  // --no-color may sit on the program or the leaf; the leaf's default (true) must not undo it.
  for (let cmd = command; cmd; cmd = cmd.parent) if (cmd.opts().color === false) opts.color = false;
  const stdoutColor = colorEnabled(process.stdout, opts);
  const stderrColor = colorEnabled(process.stderr, opts);
  const ce = colors(stderrColor);
  const warn = (text) => process.stderr.write(`${ce.yellow("warning:")} ${text}\n`);
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

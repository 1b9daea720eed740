// Copies the browser libraries the dashboard uses from node_modules into public/vendor/ (gitignored).
// Runs as wrangler's [build] command, so `wrangler dev`, `npm start` and `wrangler deploy` ship them.
// Writes each file to a temporary name and renames it, so concurrent dev servers never see half a file.
import { copyFileSync, mkdirSync, renameSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const VENDOR = join(ROOT, "public", "vendor");

/** [source under node_modules, target under public/vendor] */
const FILES = [
  ["uplot/dist/uPlot.esm.js", "uplot/uPlot.esm.js"],
  ["uplot/dist/uPlot.min.css", "uplot/uPlot.min.css"],
  ["uplot/LICENSE", "uplot/LICENSE"],
];

for (const [from, to] of FILES) {
  const src = join(ROOT, "node_modules", from);
  const dest = join(VENDOR, to);
  mkdirSync(dirname(dest), { recursive: true });
  const tmp = `${dest}.${process.pid}.tmp`;
  copyFileSync(src, tmp);
  renameSync(tmp, dest);
}
console.log(`build-assets: ${FILES.length} vendor files → public/vendor/`);

// wrangler's [build] step (so `wrangler dev`, `npm start` and `wrangler deploy` ship fresh assets):
//   1. bundles the dashboard's TypeScript (dashboard/app.ts and what it imports, @edgeplane/client's
//      types included) with esbuild into public/dashboard/app.js;
//   2. copies the browser libraries it loads (uPlot) from node_modules into public/vendor/.
// Both outputs are gitignored. Each file is written to a temporary name and renamed, so concurrent dev
// servers never see half a file.
import { copyFileSync, mkdirSync, renameSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const VENDOR = join(ROOT, "public", "vendor");
const DASHBOARD_BUNDLE = join(ROOT, "public", "dashboard", "app.js");

/** [source under node_modules, target under public/vendor] */
const FILES: [string, string][] = [
  ["uplot/dist/uPlot.esm.js", "uplot/uPlot.esm.js"],
  ["uplot/dist/uPlot.min.css", "uplot/uPlot.min.css"],
  ["uplot/LICENSE", "uplot/LICENSE"],
];

function writeAtomically(dest: string, write: (tmp: string) => void): void {
  mkdirSync(dirname(dest), { recursive: true });
  const tmp = `${dest}.${process.pid}.tmp`;
  write(tmp);
  renameSync(tmp, dest);
}

for (const [from, to] of FILES) writeAtomically(join(VENDOR, to), (tmp) => copyFileSync(join(ROOT, "node_modules", from), tmp));

const result = await build({
  entryPoints: [join(ROOT, "dashboard", "app.ts")],
  bundle: true,
  format: "esm",
  platform: "browser",
  target: "es2022",
  // uPlot is served by the Worker from /vendor/ (step 2), not inlined.
  external: ["/vendor/*"],
  write: false,
  legalComments: "none",
  logLevel: "warning",
});
const [bundle] = result.outputFiles;
if (!bundle) throw new Error("build-assets: esbuild produced no dashboard bundle");
writeAtomically(DASHBOARD_BUNDLE, (tmp) => writeFileSync(tmp, bundle.contents));
console.log(`build-assets: dashboard bundle (${bundle.contents.byteLength} bytes) → public/dashboard/app.js, ${FILES.length} vendor files → public/vendor/`);

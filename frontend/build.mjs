// Builds static/vendor/codemirror.js from the npm packages pinned by package-lock.json, with esbuild.
//
//   cd frontend && npm ci && npm run build
//
// Writes three files beside each other in static/vendor/:
//   codemirror.js          the minified bundle (an IIFE that sets window.PlaygroundCodeMirror)
//   codemirror.LICENSE.txt the licence of every package inside it
//   codemirror.json        each bundled package's version and the bundle's SHA-256, which
//                          tests/test_vendor.py checks against package-lock.json (CI has no Node).
// The output depends only on the pinned versions and this script: running it again gives the same bytes.
import { createHash } from "node:crypto";
import { readFileSync, writeFileSync, mkdirSync, existsSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";

const here = dirname(fileURLToPath(import.meta.url));
const out = resolve(here, "..", "static", "vendor");
mkdirSync(out, { recursive: true });

const result = await esbuild.build({
  entryPoints: [join(here, "codemirror-entry.mjs")],
  bundle: true,
  minify: true,
  format: "iife",
  globalName: "PlaygroundCodeMirror",
  target: ["es2020"],
  legalComments: "none", // the licences go to codemirror.LICENSE.txt, whole
  charset: "utf8",
  metafile: true,
  write: false,
  absWorkingDir: here,
});
const bundle = result.outputFiles[0].contents;

// The packages whose code is in the bundle, found from the files esbuild read.
const packages = new Map();
for (const input of Object.keys(result.metafile.inputs)) {
  const match = input.match(/node_modules\/((?:@[^/]+\/)?[^/]+)\//);
  if (!match) continue;
  const name = match[1];
  if (packages.has(name)) continue;
  const dir = join(here, "node_modules", name);
  const meta = JSON.parse(readFileSync(join(dir, "package.json"), "utf8"));
  const licenceFile = ["LICENSE", "LICENSE.md", "LICENSE.txt", "license"].map((f) => join(dir, f)).find(existsSync);
  if (!licenceFile) throw new Error(`${name} has no licence file to ship`);
  packages.set(name, { version: meta.version, license: meta.license, text: readFileSync(licenceFile, "utf8").trim() });
}
const names = [...packages.keys()].sort();

const sha256 = createHash("sha256").update(bundle).digest("hex");
writeFileSync(join(out, "codemirror.js"), bundle);
writeFileSync(
  join(out, "codemirror.LICENSE.txt"),
  "static/vendor/codemirror.js bundles these npm packages (built by frontend/build.mjs):\n\n" +
    names.map((n) => `== ${n} ${packages.get(n).version} (${packages.get(n).license})\n\n${packages.get(n).text}\n`).join("\n"),
);
writeFileSync(
  join(out, "codemirror.json"),
  JSON.stringify(
    {
      built_by: relative(resolve(here, ".."), fileURLToPath(import.meta.url)),
      esbuild: esbuild.version,
      sha256,
      bytes: bundle.length,
      packages: Object.fromEntries(names.map((n) => [n, packages.get(n).version])),
    },
    null,
    2,
  ) + "\n",
);
console.log(`static/vendor/codemirror.js: ${bundle.length} bytes, ${names.length} packages, sha256 ${sha256}`);

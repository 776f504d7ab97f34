#!/usr/bin/env bash
# `npm run build:vercel`: build the Vercel output (.vercel/output) offline with a pinned CLI, check that it
# built one function per route file, then bundle each function with esbuild (scripts/bundle-functions.ts,
# ADR 009). No login or token: `vercel build` needs neither once .vercel/project.json exists (without it
# the CLI prints "Loading teams..." and exits 0 having built nothing). The CLI is not a dependency; npx
# fetches vercel@58.10.0 from the npm registry once.
set -euo pipefail

cd "$(dirname "$0")/.."

VERCEL_CLI="vercel@58.10.0"
OUT=".vercel/output"
FUNCS="$OUT/functions"

# 1. Stub project settings so the CLI does not ask the API which team/project this is.
mkdir -p .vercel
if [ ! -f .vercel/project.json ]; then
  printf '%s\n' '{"projectId":"prj_local","orgId":"team_local","settings":{"framework":null}}' >.vercel/project.json
  echo "build-vercel: wrote stub .vercel/project.json"
fi

# 2. An output directory of our own (vercel.json outputDirectory), else Vercel copies every project file
#    into .vercel/output/static. public/ is git-ignored: `npm run build:static` (vercel.json buildCommand,
#    which `vercel build` runs too) writes the landing page and the reference page's Scalar bundle.
npm run --silent build:static

# 3. Dependencies are already installed (npm ci): tell the builder not to run `npm install` itself, which
#    would rewrite node_modules and package-lock.json under other people's feet.
if [ ! -d node_modules/@vercel/node ] || [ ! -d node_modules/typescript ]; then
  echo "build-vercel: node_modules is not installed; run npm ci first" >&2
  exit 1
fi
export VERCEL_INSTALL_COMPLETED=1
export VERCEL_TELEMETRY_DISABLED=1

# 4. Build from scratch (a stale function from a deleted route must not survive), reading vercel.json with
#    node_modules left out of the trace, except the packages step 6 keeps (scripts/vercel-build-config.ts).
rm -rf "$OUT"
started=$(date +%s)
npx tsx scripts/vercel-build-config.ts .vercel/vercel.build.json
npx --yes "$VERCEL_CLI" build --yes --local-config .vercel/vercel.build.json "$@"
echo "build-vercel: vercel build took $(($(date +%s) - started)) s"

# 5. Fail when nothing (or not everything) was built: the CLI can exit 0 having built nothing.
if [ ! -d "$OUT" ] || [ ! -f "$OUT/config.json" ]; then
  echo "build-vercel: $OUT/config.json is missing: the build produced nothing" >&2
  exit 1
fi
if [ ! -d "$FUNCS/api/v1/health/index.func" ] && [ ! -d "$FUNCS/api/v1/health.func" ]; then
  echo "build-vercel: no function for api/v1/health in $FUNCS" >&2
  exit 1
fi

# Route files as Vercel sees them: .ts/.mts/.js/.mjs/.cjs under api/, no path segment starting with _ or .,
# no declaration files.
expected=$(find api -type f \( -name '*.ts' -o -name '*.mts' -o -name '*.js' -o -name '*.mjs' -o -name '*.cjs' \) \
  ! -name '*.d.ts' ! -path '*/_*' ! -path '*/.*' | sort)
expected_count=$(printf '%s\n' "$expected" | grep -c . || true)
built_count=$(find "$FUNCS" -type d -name '*.func' | grep -c . || true)

missing=0
while IFS= read -r file; do
  [ -n "$file" ] || continue
  base="${file%.*}"
  if [ ! -d "$FUNCS/$base.func" ]; then
    echo "build-vercel: no function built for $file (expected $FUNCS/$base.func)" >&2
    missing=$((missing + 1))
  fi
done <<<"$expected"

if [ "$missing" -ne 0 ] || [ "$built_count" -ne "$expected_count" ]; then
  echo "build-vercel: expected $expected_count functions (one per route file), found $built_count" >&2
  exit 1
fi

traced=$(du -sh "$FUNCS" | cut -f1)

# 6. Bundle every function (ADR 009): one minified ESM file per function (plus the chunks of its lazy
#    imports) in place of the traced node_modules; only native/createRequire'd packages stay.
started=$(date +%s)
npx tsx scripts/bundle-functions.ts "$FUNCS"
echo "build-vercel: bundling took $(($(date +%s) - started)) s"
bundled=$(find "$FUNCS" -path '*.func/index.js' | grep -c . || true)
if [ "$bundled" -ne "$built_count" ] || find "$FUNCS" -path '*/node_modules/@electric-sql/pglite' | grep -q .; then
  echo "build-vercel: $bundled of $built_count functions bundled, or PGlite left in a function" >&2
  exit 1
fi

size=$(du -sh "$FUNCS" | cut -f1)
echo "build-vercel: OK, $built_count functions, $size in $FUNCS (traced output before bundling: $traced)"

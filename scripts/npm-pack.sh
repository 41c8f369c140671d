#!/usr/bin/env bash
# Build codexport's npm packages as .tgz files in OUTDIR (see npm/README.md):
#   codexport-<version>.tgz                 the launcher package (`npx codexport ...`)
#   codexport-<platform>-<version>.tgz      @codexport/<platform>: the native binary
# One platform package per platform that has a binary here: the host's (from CODEXPORT_BIN, or
# `cargo build --release --locked`), and any other whose binary was built elsewhere and is given
# as CODEXPORT_BIN_<PLATFORM> (e.g. CODEXPORT_BIN_DARWIN_ARM64=/path/to/codexport). The others
# are skipped and listed. Needs node and npm; `npm pack` needs no network.
#
# Usage: scripts/npm-pack.sh OUTDIR
set -euo pipefail

if [ $# -ne 1 ] || [ "${1:0:1}" = "-" ]; then
  echo "usage: $0 OUTDIR   (writes the npm .tgz files into OUTDIR)" >&2
  exit 2
fi

root=$(cd "$(dirname "$0")/.." && pwd)
for tool in node npm; do
  if ! command -v "$tool" >/dev/null; then
    echo "npm-pack: \`$tool\` is not on PATH (install Node.js 16 or later, which includes npm)" >&2
    exit 1
  fi
done

# A string field of Cargo.toml's [package] table (empty when absent).
package_field() {
  awk -v key="$1" '
    /^\[/ { in_package = ($0 == "[package]"); next }
    in_package && $1 == key && $2 == "=" {
      sub(/^[^=]*= *"/, ""); sub(/".*$/, ""); print; exit
    }' "$root/Cargo.toml"
}
version=$(package_field version)
if [ -z "$version" ]; then
  echo "npm-pack: no version in the [package] table of $root/Cargo.toml" >&2
  exit 1
fi
license=$(package_field license)
repository=$(package_field repository)

mkdir -p "$1"
out=$(cd "$1" && pwd)
stage=$(mktemp -d "${TMPDIR:-/tmp}/codexport-npm-pack.XXXXXX")
trap 'rm -rf "$stage"' EXIT

# No update check (it would ask the registry): packing is offline.
export npm_config_update_notifier=false

host=$(node -p 'process.platform + "-" + process.arch')

# Fill a template: @VERSION@ and the given @KEY@=value pairs, then the crate's license and
# repository when Cargo.toml has them. Writes pretty JSON (or text) to $2.
fill() {
  local template=$1 dest=$2
  shift 2
  TEMPLATE="$template" DEST="$dest" VERSION="$version" LICENSE="$license" REPOSITORY="$repository" \
    node - "$@" <<'JS'
const fs = require("fs");
const env = process.env;
let text = fs.readFileSync(env.TEMPLATE, "utf8").split("@VERSION@").join(env.VERSION);
for (const pair of process.argv.slice(2)) {
  const i = pair.indexOf("=");
  text = text.split(`@${pair.slice(0, i)}@`).join(pair.slice(i + 1));
}
if (/@[A-Z]+@/.test(text)) throw new Error(`${env.TEMPLATE}: unfilled ${text.match(/@[A-Z]+@/)[0]}`);
if (env.DEST.endsWith(".json")) {
  const json = JSON.parse(text);
  if (env.LICENSE) json.license = env.LICENSE;
  if (env.REPOSITORY) json.repository = { type: "git", url: env.REPOSITORY };
  text = JSON.stringify(json, null, 2) + "\n";
}
fs.writeFileSync(env.DEST, text);
JS
}

# `npm pack` the staged package dir $1 into OUTDIR and say what it wrote.
pack() {
  local file
  file=$(cd "$1" && npm pack --loglevel=warn --pack-destination "$out" | tail -n 1)
  echo "npm-pack: wrote $out/$file ($(wc -c <"$out/$file" | tr -d ' ') bytes)"
}

# platform  os  cpu  binary name  Rust target
platforms="linux-x64 linux x64 codexport x86_64-unknown-linux-gnu
linux-arm64 linux arm64 codexport aarch64-unknown-linux-gnu
darwin-x64 darwin x64 codexport x86_64-apple-darwin
darwin-arm64 darwin arm64 codexport aarch64-apple-darwin
win32-x64 win32 x64 codexport.exe x86_64-pc-windows-msvc"

built=()
skipped=()
while read -r platform os cpu exe target; do
  var="CODEXPORT_BIN_$(echo "$platform" | tr 'a-z-' 'A-Z_')"
  bin=${!var:-}
  if [ -z "$bin" ] && [ "$platform" = "$host" ]; then
    if [ -n "${CODEXPORT_BIN:-}" ]; then
      bin=$CODEXPORT_BIN
    else
      echo "npm-pack: cargo build --release --locked (host $host)"
      (cd "$root" && cargo build --release --locked)
      bin="${CARGO_TARGET_DIR:-$root/target}/release/$exe"
    fi
  fi
  if [ -z "$bin" ]; then
    skipped+=("$platform: not this host ($host); set $var to codexport built for $target")
    continue
  fi
  if [ ! -f "$bin" ]; then
    echo "npm-pack: $bin (the $platform binary) is not a file" >&2
    exit 1
  fi
  if [ "$platform" = "$host" ]; then
    # Refuse a stale binary: it must be this crate's version.
    got=$("$bin" --version)
    if [ "$got" != "codexport $version" ]; then
      echo "npm-pack: $bin --version printed '$got', not 'codexport $version' (Cargo.toml)" >&2
      exit 1
    fi
  fi
  dir="$stage/$platform"
  mkdir -p "$dir/bin"
  cp "$bin" "$dir/bin/$exe"
  chmod 0755 "$dir/bin/$exe"
  fill "$root/npm/platform/package.json.in" "$dir/package.json" \
    PLATFORM="$platform" OS="$os" CPU="$cpu" EXE="$exe" TARGET="$target"
  fill "$root/npm/platform/README.md.in" "$dir/README.md" PLATFORM="$platform" TARGET="$target"
  pack "$dir"
  built+=("$platform")
done <<<"$platforms"

dir="$stage/codexport"
mkdir -p "$dir/bin"
cp "$root/npm/codexport/bin/codexport.js" "$dir/bin/codexport.js"
chmod 0755 "$dir/bin/codexport.js"
cp "$root/npm/README.md" "$dir/README.md"
fill "$root/npm/codexport/package.json.in" "$dir/package.json"
pack "$dir"

echo "npm-pack: codexport $version; platform packages built: ${built[*]:-none}"
if [ ${#skipped[@]} -gt 0 ]; then
  echo "npm-pack: skipped ${#skipped[@]} platform package(s) (build each on its platform or cross-compile, then set the variable):"
  printf 'npm-pack:   %s\n' "${skipped[@]}"
fi

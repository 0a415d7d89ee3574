#!/usr/bin/env bash
# Installs the third-party tools listed in test/<name>/package-lock.json once into a cache folder outside the
# project (PULSE_TOOL_CACHE, default ~/.cache/pulse-auth/tools, as <name>-<hash of package.json + lockfile>), and
# reuses it while those files are unchanged: CI's fresh clones on one machine share it, and the project's own
# node_modules never sees these tools.
# Prints the folder's path on stdout; the tools' binaries are in <folder>/node_modules/.bin.
# Usage: scripts/tool-cache.sh generators|spec-tools
set -euo pipefail
cd "$(dirname "$0")/.."
name="$1"
src="test/$name"
[ -f "$src/package-lock.json" ] || { echo "no $src/package-lock.json" >&2; exit 1; }
hash=$(cat "$src/package.json" "$src/package-lock.json" | sha256sum | cut -c1-16)
root="${PULSE_TOOL_CACHE:-${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/pulse-auth/tools}"
dir="$root/$name-$hash"
mkdir -p "$root"
# One install at a time per tool set (two CI runs or test files on this machine may ask at once).
exec 9>"$root/.$name.lock"
flock 9
if [ ! -f "$dir/.complete" ]; then
  rm -rf "$dir"
  mkdir -p "$dir"
  cp "$src/package.json" "$src/package-lock.json" "$dir/"
  echo "installing $name into $dir" >&2
  npm ci --prefix "$dir" --no-audit --no-fund --loglevel=error >&2
  touch "$dir/.complete"
  # older installs of the same tool set are no longer needed
  find "$root" -maxdepth 1 -name "$name-*" ! -path "$dir" -exec rm -rf {} + 2>/dev/null || true
fi
echo "$dir"

#!/usr/bin/env bash
# Runs one of the spec tools of test/spec-tools/package.json (spectral, prism) from the tool cache
# (scripts/tool-cache.sh installs them on first use). NODE_PATH lets a ruleset extend packages installed there.
# Usage: scripts/spec-tool.sh spectral lint openapi/openapi.yaml --ruleset .spectral.yaml
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
dir=$("$here/tool-cache.sh" spec-tools)
tool="$1"
shift
NODE_PATH="$dir/node_modules${NODE_PATH:+:$NODE_PATH}" exec "$dir/node_modules/.bin/$tool" "$@"

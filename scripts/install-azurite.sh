#!/usr/bin/env bash
# Install Azurite, Microsoft's Azure Storage emulator, for the blob store tests.
#
#   scripts/install-azurite.sh [DIR]
#
# DIR defaults to .tinn-cache/azurite in the repository (git-ignored). The tests run this script
# themselves when Azurite is missing; run it ahead of time to warm a CI cache. Needs Node.js 18+.
set -euo pipefail

version="${AZURITE_VERSION:-3.35.0}"
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dir="${1:-$repo/.tinn-cache/azurite}"
manifest="$dir/node_modules/azurite/package.json"

if [ -x "$dir/node_modules/.bin/azurite-blob" ] && [ -f "$manifest" ] \
    && grep -q "\"version\": \"$version\"" "$manifest"; then
    exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
    echo "npm not found: install Node.js 18 or later to run Azurite" >&2
    exit 1
fi
mkdir -p "$dir"
npm install --prefix "$dir" --no-audit --no-fund --loglevel=error "azurite@$version" >&2
test -x "$dir/node_modules/.bin/azurite-blob"

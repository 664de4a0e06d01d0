#!/usr/bin/env bash
# Refresh the committed DKFDS files (Det Fælles Designsystem) from the npm package.
# Run by a maintainer with Node/npm; users of the desk need no Node. Usage:
#   desk/static/refresh-dkfds.sh [VERSION]      (default: the newest release)
# Only what the desk loads is kept: the minified CSS and JS, the woff2/woff fonts the CSS
# names, the icons, and the licences.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
version="${1:-latest}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "dkfds@${version}" >/dev/null && tar xzf dkfds-*.tgz)
dist="$work/package/dist"
target="$here/dkfds"
rm -rf "$target"
mkdir -p "$target/css" "$target/js" "$target/fonts/IBMPlexSans/complete" "$target/img"
cp "$dist/css/dkfds.min.css" "$target/css/"
cp "$dist/js/dkfds.min.js" "$target/js/"
for kind in woff2 woff; do
  cp -r "$dist/fonts/IBMPlexSans/complete/$kind" "$target/fonts/IBMPlexSans/complete/"
done
cp "$dist"/fonts/IBMPlexSans/complete/*/license.txt "$target/fonts/IBMPlexSans/" 2>/dev/null \
  || find "$dist/fonts" -iname 'license*' -exec cp {} "$target/fonts/IBMPlexSans/" \; -quit
cp -r "$dist/img/svg-icons" "$dist/img/all-svg-icons.svg" "$target/img/"
cp "$dist"/img/logo-*placeholder.png "$target/img/"
cp "$work/package/LICENSE.md" "$target/LICENSE.md"
grep -o '"version": *"[^"]*"' "$work/package/package.json" | cut -d'"' -f4 > "$target/VERSION"
du -sh "$target"

#!/bin/sh
# Screenshots an HTML report (e.g. study/report.html) in headless Chromium (Debian's `chromium`)
# so a person can look at what a browser really renders. Not part of `make test`: it needs a
# browser. Usage: Tests/ReportCheck/screenshot.sh REPORT.html [OUT.png] [WIDTH] [HEIGHT]
set -eu
report=${1:?usage: screenshot.sh REPORT.html [OUT.png] [WIDTH] [HEIGHT]}
out=${2:-${report%.html}.png}
width=${3:-1280}
height=${4:-4000}
browser=$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)
[ -n "$browser" ] || { echo "error: no chromium found (apt-get install -y chromium)" >&2; exit 2; }
[ -f "$report" ] || { echo "error: $report: no such file" >&2; exit 2; }
abs=$(cd "$(dirname "$report")" && pwd)/$(basename "$report")
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
# No network: the report must be self-contained, so any remote fetch would show as missing content.
"$browser" --headless --no-sandbox --disable-gpu --hide-scrollbars --no-first-run \
    --user-data-dir="$profile" --proxy-server=127.0.0.1:9 --window-size="$width,$height" \
    --screenshot="$out" "file://$abs" >/dev/null 2>&1
[ -s "$out" ] || { echo "error: chromium wrote no screenshot to $out" >&2; exit 1; }
echo "$out"

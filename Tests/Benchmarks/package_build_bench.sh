#!/usr/bin/env bash
# The runtime built as a dependent package builds it (Examples/Classify, plain `swift build -c
# release`, run with the AVX2 + FMA C kernels and with SPRUCE_KERNELS=portable, then built with the
# app's own CPU flags) against `make release`'s, in one run: alternating rounds, best median of
# each, and the ratios. Usage: package_build_bench.sh MODEL.spruce IMAGE.ppm [ROUNDS]
set -euo pipefail
model=${1:?usage: package_build_bench.sh MODEL.spruce IMAGE.ppm [ROUNDS]}
image=${2:?usage: package_build_bench.sh MODEL.spruce IMAGE.ppm [ROUNDS]}
rounds=${3:-3}
root=$(cd "$(dirname "$0")/../.." && pwd)
make -C "$root" -s release >/dev/null
(cd "$root/Examples/Classify" && swift build -c release >/dev/null &&
 swift build -c release --scratch-path .build-native -Xswiftc -target-cpu -Xswiftc haswell -Xswiftc -DSPRUCE_FMA >/dev/null)
plain=(); portable=(); native=(); release=()
for _ in $(seq "$rounds"); do
  plain+=("$("$root/Examples/Classify/.build/release/classify" "$model" "$image" --repeat 300 | awk '/^median/ {print $2}')")
  portable+=("$(SPRUCE_KERNELS=portable "$root/Examples/Classify/.build/release/classify" "$model" "$image" --repeat 300 | awk '/^median/ {print $2}')")
  native+=("$("$root/Examples/Classify/.build-native/release/classify" "$model" "$image" --repeat 300 | awk '/^median/ {print $2}')")
  release+=("$("$root/.build/release/spruce-bench" runtime "$model" --runs 300 --warmup 5 | python3 -c 'import json,sys; print(json.load(sys.stdin)["median_ms"])')")
done
best() { printf '%s\n' "$@" | sort -g | head -1; }
p=$(best "${plain[@]}"); q=$(best "${portable[@]}"); n=$(best "${native[@]}"); r=$(best "${release[@]}")
echo "plain swift build: $p ms (SPRUCE_KERNELS=portable: $q ms); with -target-cpu haswell -DSPRUCE_FMA: $n ms; make release: $r ms"
python3 -c "print(f'plain / make release: {$p / $r:.2f}x; portable / make release: {$q / $r:.2f}x; flags / make release: {$n / $r:.2f}x')"

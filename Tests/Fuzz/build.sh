#!/usr/bin/env bash
# Builds the ArtifactReader fuzzer outside SwiftPM (-sanitize=fuzzer would break the normal
# build) and a seed generator; optionally runs it. Usage: Tests/Fuzz/build.sh [seconds-to-run]
set -euo pipefail
cd "$(dirname "$0")/../.."
B=.build-fuzz
mkdir -p "$B/plain" "$B/fuzz" "$B/corpus" "$B/seeds"
support=$(find Sources/_SpruceSupport -name '*.swift' | sort)
core=$(find Sources/SpruceCore -name '*.swift' | sort)
format=$(find Sources/SpruceFormat -name '*.swift' | sort)
inc=(-I Sources/CZstd -I Sources/CProtobufC -I Tests/Fuzz/modules/CSpruceProto -Xcc -ISources/CSpruceProto/include)

# $1 = output dir, $2.. = extra swiftc/clang flags (sanitizers or not)
build_modules() {
    local out=$1; shift
    local cflags=(); local sflags=()
    if [ "$1" = fuzz ]; then cflags=(-fsanitize=fuzzer-no-link,address); sflags=(-sanitize=fuzzer,address); fi
    clang -O1 -g "${cflags[@]}" -ISources/CSpruceProto/include -c Sources/CSpruceProto/spruce.pb-c.c -o "$out/spruce.pb-c.o"
    swiftc -O -g "${sflags[@]}" -parse-as-library -package-name spruce -module-name _SpruceSupport -wmo -c $support \
        -emit-module -emit-module-path "$out/_SpruceSupport.swiftmodule" -o "$out/_SpruceSupport.o"
    swiftc -O -g "${sflags[@]}" -parse-as-library -package-name spruce -module-name SpruceCore -wmo -c $core -I "$out" \
        -emit-module -emit-module-path "$out/SpruceCore.swiftmodule" -o "$out/SpruceCore.o"
    swiftc -O -g "${sflags[@]}" -parse-as-library -package-name spruce -module-name SpruceFormat -wmo -c $format -I "$out" "${inc[@]}" \
        -emit-module -emit-module-path "$out/SpruceFormat.swiftmodule" -o "$out/SpruceFormat.o"
}

build_modules "$B/fuzz" fuzz
swiftc -O -g -sanitize=fuzzer,address -parse-as-library Tests/Fuzz/ReaderFuzz.swift -I "$B/fuzz" "${inc[@]}" \
    "$B/fuzz/SpruceFormat.o" "$B/fuzz/SpruceCore.o" "$B/fuzz/_SpruceSupport.o" "$B/fuzz/spruce.pb-c.o" -lzstd -lprotobuf-c -use-ld=lld -o "$B/reader-fuzz"

build_modules "$B/plain" plain
swiftc -O -parse-as-library Tests/Fuzz/MakeSeeds.swift -I "$B/plain" "${inc[@]}" \
    "$B/plain/SpruceFormat.o" "$B/plain/SpruceCore.o" "$B/plain/_SpruceSupport.o" "$B/plain/spruce.pb-c.o" -lzstd -lprotobuf-c -o "$B/make-seeds"

"$B/make-seeds" "$B/seeds"
echo "built $B/reader-fuzz; seeds in $B/seeds"

if [ $# -ge 1 ]; then
    # Generated inputs go to $B/corpus; the seeds are read but never written.
    "$B/reader-fuzz" "$B/corpus" "$B/seeds" -max_total_time="$1" -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1
fi

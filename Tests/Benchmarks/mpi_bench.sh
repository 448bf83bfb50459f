#!/usr/bin/env bash
# Data-parallel scaling of `spruce train` on this machine: images/s of MobileNet v2 (width 1.0,
# 96x96, global batch 16) for 1 rank with 2 kernel threads vs 2 ranks (mpirun) with 1 thread each,
# and 1 rank with 1 thread as the per-core baseline. It prints the measured throughputs; it does
# not judge them; the last line gives the ratios. Needs Open MPI (openmpi-bin); the dataset is fixtures/images repeated.
set -euo pipefail
cd "$(dirname "$0")/../.."
SPRUCE=${SPRUCE:-.build/release/spruce}
[ -x "$SPRUCE" ] || { swift build -c release --product spruce >/dev/null; }
command -v mpirun >/dev/null || { echo "mpirun not found: apt-get install openmpi-bin libopenmpi-dev" >&2; exit 1; }
EPOCHS=${EPOCHS:-2}          # the last epoch's rate is reported (the first one warms up)
REPEAT=${REPEAT:-4}          # copies of the 26 fixture images: 4 -> ~62 train images, 4 steps of 16
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# A class-folder dataset: the fixtures' labels.csv maps images to benign/malignant.
mkdir -p "$work/data/benign" "$work/data/malignant"
tail -n +2 fixtures/images/labels.csv | while IFS=, read -r id _ _ malignant; do
  cls=benign; [ "$malignant" = "1" ] && cls=malignant
  for r in $(seq 1 "$REPEAT"); do cp "fixtures/images/$id.jpg" "$work/data/$cls/${id}_$r.jpg"; done
done
args=(train --model mobilenetv2 --width 1.0 --size 96 --batch 16 --epochs "$EPOCHS" --seed 1 --no-augment --data "$work/data")
rate() { grep -ao 'epoch [0-9]*  loss [^ ]*  .*img/s' "$1" | tail -1 | grep -o '[0-9.]* img/s' | head -1; }
echo "machine: $(nproc) cores; model mobilenetv2 w1.0 96x96, global batch 16, $EPOCHS epoch(s)"
"$SPRUCE" "${args[@]}" --threads 2 -o "$work/a.onnx" > "$work/a.log" 2>&1
a=$(rate "$work/a.log"); echo "1 rank  x 2 threads: $a"
"$SPRUCE" "${args[@]}" --threads 1 -o "$work/b.onnx" > "$work/b.log" 2>&1
b=$(rate "$work/b.log"); echo "1 rank  x 1 thread : $b"
SPRUCE_MPI_PROFILE=1 mpirun --allow-run-as-root --oversubscribe --bind-to none -np 2 \
  "$SPRUCE" "${args[@]}" --threads 1 -o "$work/c.onnx" > "$work/c.log" 2>&1
c=$(rate "$work/c.log"); echo "2 ranks x 1 thread : $c"
grep -a 'allreduce' "$work/c.log" || true
awk -v a="${a% img/s}" -v b="${b% img/s}" -v c="${c% img/s}" 'BEGIN {
  printf "scaling 1 -> 2 ranks: %.2fx one single-threaded rank, %.2fx one rank using both cores\n", c / b, c / a }'

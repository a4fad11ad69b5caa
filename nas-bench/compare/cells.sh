#!/usr/bin/env bash
# Side by side: the nas engine and PyTorch on CPU train the same NAS-Bench-201 cell
# networks (NAS-Bench-201's skeleton: stem of 16 channels, 3 stages of 5 cells, residual
# reduction blocks) and a NAS-Bench-Macro network (its skeleton: stem of 32 channels,
# head of 1280) with the same batch size, optimiser (AdamW lr 1e-3, wd 0.01) and
# thread count, back to back, on 28x28 MNIST images and on 32x32 RGB images in CIFAR-10's
# binary format; prints training img/s and the nas/PyTorch ratio.
#
# Usage: nas-bench/compare/cells.sh [--mnist-dir DIR] [--threads "2"] [--batch-size 128]
#                                   [--images 2048] [--repeats 1] [--cells "best conv3 pool macro"]
#                                   [--stem-channels 16] [--cells-per-stage 5]
#
# Cells: best  = NAS-Bench-201's best CIFAR-10 cell (index 13714),
#        conv3 = every edge nor_conv_3x3, pool = pooling and skip connections only,
#        macro = NAS-Bench-Macro's best network (key 22212220; --stem-channels and
#        --cells-per-stage do not apply to it).
# --images: training images per run (one epoch over them; throughput is what is compared).
# --repeats N: every pair N times; with N > 1 a best-of-N summary follows the table.
# The 32x32 images are generated (seeded noise in CIFAR-10's exact record format; CIFAR-10
# itself cannot be downloaded here): the speed does not depend on the pixels.
# MNIST defaults to ../shared/data/mnist next to the repository. PyTorch is optional
# (`pip install torch numpy`); without it only the nas side runs. Run on a quiet machine.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
mnist_dir="${NAS_MNIST_DIR:-$repo/../shared/data/mnist}"
threads_list="2"
batch=128
images=2048
repeats=1
cells="best conv3 pool macro"
stem=16
per_stage=5
while [[ $# -gt 0 ]]; do
    case "$1" in
        --mnist-dir) mnist_dir="$2"; shift 2 ;;
        --threads) threads_list="$2"; shift 2 ;;
        --batch-size) batch="$2"; shift 2 ;;
        --images) images="$2"; shift 2 ;;
        --repeats) repeats="$2"; shift 2 ;;
        --cells) cells="$2"; shift 2 ;;
        --stem-channels) stem="$2"; shift 2 ;;
        --cells-per-stage) per_stage="$2"; shift 2 ;;
        -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
        *) echo "unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done

python="${PYTHON:-python3}"
have_torch=1
if ! "$python" -c "import torch, numpy" >/dev/null 2>&1; then
    have_torch=0
    echo "PyTorch not found for $python: only the nas side runs (install with: pip install torch numpy)" >&2
fi

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/nas-target}"
(cd "$repo" && cargo build --quiet --release -p experiments --bin nas)
nas="$CARGO_TARGET_DIR/release/nas"

# 32x32 RGB images in CIFAR-10's binary format: five training batches and a test batch.
cifar_dir="$(mktemp -d)"
trap 'rm -rf "$cifar_dir"' EXIT
python3 - "$cifar_dir" "$images" <<'EOF'
import os, random, sys
out, images = sys.argv[1], int(sys.argv[2])
rng = random.Random(1)
per_batch = (images + 1000) // 5 + 1
for name in [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]:
    n = per_batch if name != "test_batch.bin" else 500
    with open(os.path.join(out, name), "wb") as f:
        for _ in range(n):
            f.write(bytes([rng.randrange(10)]) + rng.randbytes(3072))
EOF

# Every measured pair, for the best-of summary after the table.
pairs="$cifar_dir/pairs.txt"
: > "$pairs"

cell_of() {
    case "$1" in
        best) echo "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_1x1~1|nor_conv_3x3~2|" ;;
        conv3) echo "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|" ;;
        pool) echo "|avg_pool_3x3~0|+|skip_connect~0|avg_pool_3x3~1|+|avg_pool_3x3~0|skip_connect~1|avg_pool_3x3~2|" ;;
        macro) echo "mbconv_k5_e6 mbconv_k5_e6 / mbconv_k5_e6 mbconv_k3_e3 mbconv_k5_e6 / mbconv_k5_e6 mbconv_k5_e6 identity" ;;
        *) echo "unknown cell $1 (best, conv3, pool, macro)" >&2; exit 2 ;;
    esac
}
field() { "$python" -c "import json,sys; d=json.load(sys.stdin); v=d.get('$1'); print('' if v is None else v)"; }

"$nas" --version 2>/dev/null || true
if [[ $have_torch == 1 ]]; then
    "$python" -c "import torch; print('pytorch', torch.__version__, 'cpu capability', torch.backends.cpu.get_cpu_capability())"
fi
echo "cells: stem $stem, $per_stage cells per stage, 3 stages; macro: stem 32, head 1280; batch $batch; $images training images, 1 epoch; AdamW lr 1e-3 wd 0.01"
printf "%-6s %-6s %-7s %-6s %10s %12s %12s %7s\n" cell input threads repeat params "nas img/s" "torch img/s" ratio
for cell in $cells; do
    arch="$(cell_of "$cell")"
    if [[ $cell == macro ]]; then
        model=macro; skeleton=(--stem-channels 32 --head-channels 1280)
    else
        model=cell; skeleton=(--stem-channels "$stem" --cells-per-stage "$per_stage")
    fi
    for input in 28x28 32x32; do
        if [[ $input == 28x28 ]]; then
            dataset=mnist; dir="$mnist_dir"; val=1000
        else
            dataset=cifar10; dir="$cifar_dir"; val=500
        fi
        for threads in $threads_list; do
            for r in $(seq 1 "$repeats"); do
                torch_ips=""
                if [[ $have_torch == 1 ]]; then
                    torch_json="$("$python" "$here/pytorch.py" --data-dir "$dir" --dataset "$dataset" \
                        --model "$model" --arch "$arch" "${skeleton[@]}" \
                        --threads "$threads" --batch-size "$batch" --val-size "$val" \
                        --train-images "$images" --seed 1)"
                    torch_ips="$(echo "$torch_json" | field train_img_per_s)"
                fi
                nas_json="$("$nas" eval --arch "$arch" --dataset "$dataset" --data-dir "$dir" \
                    "${skeleton[@]}" --epochs 1 \
                    --threads "$threads" --batch-size "$batch" --validation-size "$val" \
                    --train-subset "$images" --seed 1 --format json)"
                nas_ips="$(echo "$nas_json" | field train_img_per_s)"
                params="$(echo "$nas_json" | field params)"
                ratio="-"
                if [[ -n "$torch_ips" ]]; then
                    ratio="$("$python" -c "print(f'{$nas_ips / $torch_ips:.2f}x')")"
                fi
                echo "$cell $input $threads $nas_ips ${torch_ips:--}" >> "$pairs"
                printf "%-6s %-6s %-7s %-6s %10s %12.0f %12s %7s\n" "$cell" "$input" "$threads" "$r" \
                    "$params" "$nas_ips" \
                    "$([[ -n "$torch_ips" ]] && printf '%.0f' "$torch_ips" || echo -)" "$ratio"
            done
        done
    done
done

# On a shared machine a run can lose 20-30% to other work; the best throughput of each
# side over the repeats is the least disturbed estimate of its speed.
if [[ $repeats -gt 1 ]]; then
    echo
    echo "best of $repeats repeats:"
    "$python" - "$pairs" <<'EOF'
import sys
best = {}
for line in open(sys.argv[1]):
    cell, size, threads, nas, torch = line.split()
    b = best.setdefault((cell, size, threads), [0.0, None])
    b[0] = max(b[0], float(nas))
    if torch != "-":
        b[1] = max(b[1] or 0.0, float(torch))
print(f"{'cell':6} {'input':6} {'threads':7} {'nas img/s':>10} {'torch img/s':>12} {'ratio':>7}")
for (cell, size, threads), (nas, torch) in best.items():
    ratio = f"{nas / torch:.2f}x" if torch else "-"
    shown = f"{torch:.0f}" if torch else "-"
    print(f"{cell:6} {size:6} {threads:7} {nas:10.0f} {shown:>12} {ratio:>7}")
EOF
fi

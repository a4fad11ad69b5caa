#!/usr/bin/env bash
# Side by side: the nas engine and PyTorch on CPU train the same two models (the
# reference CNN and the 784-128-10 MLP) on the same MNIST files, with the same batch
# size and thread count, one epoch each, back to back; prints training img/s, test
# accuracy and the nas/PyTorch throughput ratio.
#
# Usage: nas-bench/compare/run.sh [--data-dir DIR] [--threads "1 2"] [--batch-size 128]
#                                 [--models "cnn mlp"] [--repeats 1] [--simd "avx2 avx512"]
#
# --simd runs the nas side once per kernel family (NAS_SIMD; default: the best the CPU
# has) against the same PyTorch run; the results of every family are bit-identical, so
# the rows differ in speed only.
# DIR defaults to $NAS_MNIST_DIR, then ../shared/data/mnist next to the repository, then
# the repository's data/mnist-mini (the embedded 10k/2k subset). PyTorch is optional:
# install it with `pip install torch numpy` (the CPU build is enough); without it only the
# nas side runs. Run on a quiet machine: both sides are measured in wall-clock time.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
data_dir="${NAS_MNIST_DIR:-}"
threads_list="1 2"
batch=128
models="cnn mlp"
repeats=1
simd_list="auto"
while [[ $# -gt 0 ]]; do
    case "$1" in
        --data-dir) data_dir="$2"; shift 2 ;;
        --threads) threads_list="$2"; shift 2 ;;
        --batch-size) batch="$2"; shift 2 ;;
        --models) models="$2"; shift 2 ;;
        --repeats) repeats="$2"; shift 2 ;;
        --simd) simd_list="$2"; shift 2 ;;
        -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
        *) echo "unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done
if [[ -z "$data_dir" ]]; then
    if [[ -d "$repo/../shared/data/mnist" ]]; then
        data_dir="$repo/../shared/data/mnist"
    else
        data_dir="$repo/data/mnist-mini"
    fi
fi
# A held-out validation part as `nas eval` uses: 5000 of 60k, 1000 of the mini set's 10k.
val_size=5000
if [[ "$data_dir" == *mnist-mini* ]]; then val_size=1000; fi

python="${PYTHON:-python3}"
have_torch=1
if ! "$python" -c "import torch, numpy" >/dev/null 2>&1; then
    have_torch=0
    echo "PyTorch not found for $python: only the nas side runs (install with: pip install torch numpy)" >&2
fi

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/nas-target}"
(cd "$repo" && cargo build --quiet --release -p nas-eval --example eval \
    && cargo build --quiet --release -p nas-bench --example kernels)
nas_eval="$CARGO_TARGET_DIR/release/examples/eval"
"$CARGO_TARGET_DIR/release/examples/kernels"
if [[ $have_torch == 1 ]]; then
    "$python" -c "import torch; print('pytorch', torch.__version__, 'cpu capability', torch.backends.cpu.get_cpu_capability())"
fi

arch_of() {
    case "$1" in
        cnn) echo "conv3x3-16-relu > maxpool2 > conv3x3-32-relu > maxpool2" ;;
        mlp) echo "dense128-relu" ;;
    esac
}
field() { "$python" -c "import json,sys; d=json.load(sys.stdin); v=d.get('$1'); print('' if v is None else v)"; }

echo "data: $data_dir (validation $val_size), batch $batch, 1 epoch, AdamW lr 1e-3 wd 0.01"
printf "%-5s %-7s %-6s %-7s %14s %9s %14s %9s %7s\n" model threads repeat kernels "nas img/s" "nas acc" "torch img/s" "torch acc" ratio
for model in $models; do
    for threads in $threads_list; do
        for r in $(seq 1 "$repeats"); do
            torch_ips=""; torch_acc=""
            if [[ $have_torch == 1 ]]; then
                torch_json="$("$python" "$here/pytorch.py" --data-dir "$data_dir" --model "$model" \
                    --threads "$threads" --batch-size "$batch" --val-size "$val_size" --seed 1)"
                torch_ips="$(echo "$torch_json" | field train_img_per_s)"
                torch_acc="$(echo "$torch_json" | field test_acc)"
            fi
            for simd in $simd_list; do
                nas_json="$(NAS_SIMD="$simd" "$nas_eval" --arch "$(arch_of "$model")" --dataset mnist \
                    --data-dir "$data_dir" --epochs 1 --threads "$threads" --batch-size "$batch" \
                    --val-size "$val_size" --seed 1)"
                nas_ips="$(echo "$nas_json" | field train_img_per_s)"
                nas_acc="$(echo "$nas_json" | field test_acc)"
                ratio="-"
                if [[ -n "$torch_ips" ]]; then
                    ratio="$("$python" -c "print(f'{$nas_ips / $torch_ips:.2f}x')")"
                fi
                printf "%-5s %-7s %-6s %-7s %14.0f %9s %14s %9s %7s\n" "$model" "$threads" "$r" "$simd" \
                    "$nas_ips" "$nas_acc" \
                    "$([[ -n "$torch_ips" ]] && printf '%.0f' "$torch_ips" || echo -)" "${torch_acc:--}" "$ratio"
            done
        done
    done
done

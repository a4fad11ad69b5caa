#!/usr/bin/env python3
"""Train the reference models of the nas benchmarks in PyTorch on CPU and print their
training throughput as one JSON object (the PyTorch half of compare/run.sh).

Same setup as `nas eval`: MNIST IDX files (raw or .gz), pixels scaled to [0, 1] and
standardised with the mean/std of the training images, `val_size` images held out,
one epoch over the rest in shuffled batches, AdamW (lr 1e-3, weight decay 0.01),
PyTorch's default initialisation, cross-entropy; throughput counts the training loop
only (forward, backward, optimiser step, batch indexing).

Models:
  cnn  conv3x3-16-relu > maxpool2 > conv3x3-32-relu > maxpool2 > dense10
  mlp  dense128-relu > dense10

PyTorch is optional: `pip install torch numpy` (the CPU build of torch is enough). Without it this
script prints {"skipped": "..."} and exits 0.
"""

import argparse
import gzip
import json
import os
import struct
import sys
import time


def read_idx(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    _zero, dtype, ndim = struct.unpack(">HBB", data[:4])
    if dtype != 0x08:
        raise ValueError(f"{path}: only u8 IDX files are supported")
    dims = struct.unpack(">" + "I" * ndim, data[4 : 4 + 4 * ndim])
    return data[4 + 4 * ndim :], dims


def find(data_dir, stem):
    for name in (stem, stem + ".gz", stem.replace("-idx", ".idx"), stem.replace("-idx", ".idx") + ".gz"):
        path = os.path.join(data_dir, name)
        if os.path.exists(path):
            return path
    raise FileNotFoundError(f"{stem}[.gz] not found in {data_dir}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--model", choices=["cnn", "mlp"], default="cnn")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--val-size", type=int, default=5000)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()

    try:
        import numpy as np
        import torch
        from torch import nn
    except ImportError as e:  # PyTorch is optional.
        print(json.dumps({"skipped": f"PyTorch not available ({e}); install with `pip install torch numpy`"}))
        return 0

    torch.set_num_threads(args.threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)

    def load(kind):
        images, (n, h, w) = read_idx(find(args.data_dir, f"{kind}-images-idx3-ubyte"))
        labels, _ = read_idx(find(args.data_dir, f"{kind}-labels-idx1-ubyte"))
        x = np.frombuffer(images, dtype=np.uint8).reshape(n, 1, h, w).astype(np.float32) / 255.0
        y = np.frombuffer(labels, dtype=np.uint8).astype(np.int64)
        return x, y

    x_train, y_train = load("train")
    x_test, y_test = load("t10k")
    order = rng.permutation(len(x_train))
    train_idx = order[args.val_size :]
    mean = float(x_train[train_idx].mean())
    std = float(x_train[train_idx].std())
    x_tr = torch.from_numpy((x_train[train_idx] - mean) / std)
    y_tr = torch.from_numpy(y_train[train_idx])
    x_te = torch.from_numpy((x_test - mean) / std)
    y_te = torch.from_numpy(y_test)

    if args.model == "cnn":
        model = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(32 * 7 * 7, 10),
        )
    else:
        model = nn.Sequential(nn.Flatten(), nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
    loss_fn = nn.CrossEntropyLoss()

    n = len(x_tr)
    bs = args.batch_size
    model.train()
    # One warm-up step (allocator, kernel selection), not timed, as the engine has none.
    perm = torch.randperm(n)
    xb, yb = x_tr[perm[:bs]], y_tr[perm[:bs]]
    opt.zero_grad(set_to_none=True)
    loss_fn(model(xb), yb).backward()
    opt.zero_grad(set_to_none=True)

    seen = 0
    start = time.perf_counter()
    for _ in range(args.epochs):
        perm = torch.randperm(n)
        for i in range(0, n, bs):
            idx = perm[i : i + bs]
            xb, yb = x_tr[idx], y_tr[idx]
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(xb), yb)
            loss.backward()
            opt.step()
            seen += len(idx)
    train_seconds = time.perf_counter() - start

    model.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, len(x_te), 1000):
            correct += (model(x_te[i : i + 1000]).argmax(1) == y_te[i : i + 1000]).sum().item()
    print(json.dumps({
        "model": args.model,
        "framework": f"pytorch {torch.__version__}",
        "threads": args.threads,
        "batch_size": bs,
        "train_images": n,
        "train_seconds": train_seconds,
        "train_img_per_s": seen / train_seconds,
        "test_acc": correct / len(x_te),
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())

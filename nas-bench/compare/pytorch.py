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
  cell a NAS-Bench-201 cell (--arch, the benchmark's text) in NAS-Bench-201's skeleton
       (Dong & Yang, ICLR 2020, section 2.1; --stem-channels, --cells-per-stage,
       --stages): stem conv3x3 + BN, stages of cells, residual reduction blocks, BN-ReLU,
       global average pooling, linear; `none` edges left out of the sums (as nas does)
  macro a NAS-Bench-Macro network (--arch: blocks `identity` / `mbconv_k<k>_e<e>`, layers
       of a stage separated by spaces, stages by ` / `) with --stem-channels and
       --head-channels (Su et al., CVPR 2021; its train/model.py): stem conv3x3 + BN +
       ReLU, the layers (the first of each stage stride 2, twice the channels; MobileNetV2
       inverted residuals, identity or a strided 1x1 conv + BN), conv1x1 + BN + ReLU,
       global average pooling, linear

Data: MNIST-format IDX files (--dataset mnist, 28x28) or CIFAR-10 binary batches
(--dataset cifar10, 3x32x32; pixels standardised per channel, as nas does).

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


def nb201_network(nn, torch, arch, in_channels, c, n, stages, classes):
    """NAS-Bench-201's network for the cell `arch` (its text: nodes joined by `+`, each
    node's incoming edges `|op~from|`)."""
    nodes = [[(e.split("~")[0], int(e.split("~")[1])) for e in node.strip("|").split("|")]
             for node in arch.split("+")]

    def relu_conv_bn(cin, cout, k, stride):
        return nn.Sequential(nn.ReLU(), nn.Conv2d(cin, cout, k, stride, k // 2, bias=False),
                             nn.BatchNorm2d(cout))

    class Cell(nn.Module):
        def __init__(self, ch):
            super().__init__()
            self.edges = nn.ModuleList()
            self.plan = []  # per node: [(module index, source node)]
            for node in nodes:
                terms = []
                for op, src in node:
                    if op == "none":
                        continue
                    if op == "skip_connect":
                        m = nn.Identity()
                    elif op == "avg_pool_3x3":
                        m = nn.AvgPool2d(3, 1, 1, count_include_pad=False)
                    else:
                        k = int(op.split("_")[-1].split("x")[0])
                        m = relu_conv_bn(ch, ch, k, 1)
                    self.edges.append(m)
                    terms.append((len(self.edges) - 1, src))
                self.plan.append(terms)

        def forward(self, x):
            states = [x]
            for terms in self.plan:
                if terms:
                    states.append(sum(self.edges[i](states[j]) for i, j in terms))
                else:
                    states.append(torch.zeros_like(x))
            return states[-1]

    class Reduction(nn.Module):
        def __init__(self, cin, cout):
            super().__init__()
            self.a = relu_conv_bn(cin, cout, 3, 2)
            self.b = relu_conv_bn(cout, cout, 3, 1)
            self.shortcut = nn.Sequential(nn.AvgPool2d(2, 2), nn.Conv2d(cin, cout, 1, bias=False))

        def forward(self, x):
            return self.shortcut(x) + self.b(self.a(x))

    layers = [nn.Conv2d(in_channels, c, 3, padding=1, bias=False), nn.BatchNorm2d(c)]
    ch = c
    for stage in range(stages):
        if stage > 0:
            layers.append(Reduction(ch, 2 * ch))
            ch *= 2
        layers.extend(Cell(ch) for _ in range(n))
    layers += [nn.BatchNorm2d(ch), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
               nn.Linear(ch, classes)]
    return nn.Sequential(*layers)


def macro_network(nn, arch, in_channels, stem, head, classes):
    """NAS-Bench-Macro's network for `arch` (nas's text of a macro architecture)."""

    def block(name, cin, cout, stride):
        if name == "identity":
            if stride == 1 and cin == cout:
                return nn.Identity()
            return nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                 nn.BatchNorm2d(cout))
        k, e = (int(v) for v in name[len("mbconv_k"):].split("_e"))
        hidden = cin * e
        layers = []
        if e != 1:
            layers += [nn.Conv2d(cin, hidden, 1, bias=False), nn.BatchNorm2d(hidden), nn.ReLU()]
        layers += [nn.Conv2d(hidden, hidden, k, stride, padding=k // 2, groups=hidden, bias=False),
                   nn.BatchNorm2d(hidden), nn.ReLU(),
                   nn.Conv2d(hidden, cout, 1, bias=False), nn.BatchNorm2d(cout)]
        body = nn.Sequential(*layers)
        if stride == 1 and cin == cout:
            class Residual(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.body = body

                def forward(self, x):
                    return self.body(x) + x
            return Residual()
        return body

    layers = [nn.Conv2d(in_channels, stem, 3, padding=1, bias=False), nn.BatchNorm2d(stem),
              nn.ReLU()]
    ch = stem
    for stage in arch.split(" / "):
        for i, name in enumerate(stage.split()):
            stride, cout = (2, 2 * ch) if i == 0 else (1, ch)
            layers.append(block(name, ch, cout, stride))
            ch = cout
    layers += [nn.Conv2d(ch, head, 1, bias=False), nn.BatchNorm2d(head), nn.ReLU(),
               nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(head, classes)]
    return nn.Sequential(*layers)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--model", choices=["cnn", "mlp", "cell", "macro"], default="cnn")
    ap.add_argument("--arch", help="the cell or macro network, for --model cell / macro")
    ap.add_argument("--head-channels", type=int, default=1280)
    ap.add_argument("--stem-channels", type=int, default=16)
    ap.add_argument("--cells-per-stage", type=int, default=5)
    ap.add_argument("--stages", type=int, default=3)
    ap.add_argument("--dataset", choices=["mnist", "cifar10"], default="mnist")
    ap.add_argument("--train-images", type=int, default=None,
                    help="train on the first N images of the shuffled training part")
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

    def load_cifar(names):
        raw = b"".join(open(os.path.join(args.data_dir, name), "rb").read() for name in names)
        rec = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 3073)
        return rec[:, 1:].reshape(-1, 3, 32, 32).astype(np.float32) / 255.0, rec[:, 0].astype(np.int64)

    if args.dataset == "mnist":
        x_train, y_train = load("train")
        x_test, y_test = load("t10k")
    else:
        x_train, y_train = load_cifar([f"data_batch_{i}.bin" for i in range(1, 6)])
        x_test, y_test = load_cifar(["test_batch.bin"])
    order = rng.permutation(len(x_train))
    train_idx = order[args.val_size :]
    if args.train_images is not None:
        train_idx = train_idx[: args.train_images]
    channels = x_train.shape[1]
    mean = x_train[train_idx].mean(axis=(0, 2, 3), keepdims=True)
    std = x_train[train_idx].std(axis=(0, 2, 3), keepdims=True)
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
    elif args.model == "mlp":
        model = nn.Sequential(nn.Flatten(), nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10))
    elif args.model == "macro":
        model = macro_network(nn, args.arch, channels, args.stem_channels,
                              args.head_channels, 10)
    else:
        model = nb201_network(nn, torch, args.arch, channels, args.stem_channels,
                              args.cells_per_stage, args.stages, 10)
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
        "params": sum(p.numel() for p in model.parameters()),
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

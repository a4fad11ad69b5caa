#!/usr/bin/env python3
"""Trains chain architectures with PyTorch on MNIST-format IDX files, as an external nas
evaluator: your own training code inside nas's runner, statistics, resume and reports.

    pip install torch numpy          # the CPU build is enough
    [evaluator]
    kind = "external"
    command = ["python3", "../examples/external/torch_evaluator.py"]   # relative to the config
    params = { data_dir = "../data/mnist", val_size = 5000, threads = 1 }
    timeout = 3600

`params` (all optional but `data_dir`, which is relative to the config's folder):
data_dir, val_size (5000), batch_size (128), lr (1e-3), weight_decay (0.01),
threads (1), split_seed (0).

What it does, per `evaluate`: the architecture's text (`conv3x3-16-relu > maxpool2 >
dense128-relu`; "same" padding unless `-valid`) becomes an `nn.Sequential` with a final
linear layer to the classes; pixels are scaled to [0, 1] and standardised with the
training images' mean and std; `val_size` training images (a permutation seeded by
`split_seed`, the same for every trial) are held out for validation; training runs
`budget.epochs` epochs over the rest (or the first `budget.train_subset` of them) in
shuffled batches with AdamW and cross-entropy, from PyTorch's default initialisation
seeded by the trial's seed. The test set is scored only when nas asks (`test`).

Determinism: weights and batch order come from the trial's seed and
`torch.use_deterministic_algorithms(True)` is set, so on one machine and thread count the
same trial gives the same numbers (nas's tables are then reproducible). Its numbers are
PyTorch's, not those of nas's own engine: compare strategies under one evaluator.
This example trains chains only; cells and macro networks are answered with an error
(the trial fails).
"""

import gzip
import math
import os
import pathlib
import re
import struct
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "python"))
import nas_protocol  # noqa: E402


def read_idx(path):
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    _zero, dtype, ndim = struct.unpack(">HBB", data[:4])
    if dtype != 0x08:
        raise ValueError(f"{path}: only u8 IDX files are supported")
    dims = struct.unpack(">" + "I" * ndim, data[4 : 4 + 4 * ndim])
    body = data[4 + 4 * ndim :]
    if len(body) != math.prod(dims):
        raise ValueError(f"{path}: {len(body)} bytes of data, the header says {math.prod(dims)}")
    return body, dims


def find(data_dir, stem):
    for name in (stem, stem + ".gz", stem.replace("-idx", ".idx"), stem.replace("-idx", ".idx") + ".gz"):
        path = os.path.join(data_dir, name)
        if os.path.exists(path):
            return path
    raise FileNotFoundError(f"{stem}[.gz] not found in {data_dir}")


LAYER = re.compile(
    r"^(?:conv(?P<k>\d+)x(?P=k)-(?P<f>\d+)-(?P<ca>[a-z]+)(?P<valid>-valid)?"
    r"|(?P<pool>maxpool2)|dense(?P<u>\d+)-(?P<da>[a-z]+)|dropout(?P<rate>0\.\d+))$"
)


class TorchEvaluator(nas_protocol.Evaluator):
    def init(self, space, params, classes):
        import numpy as np
        import torch

        if space["kind"] != "chain":
            self.unsupported = f"this example trains chains, not {space['kind']} architectures"
            return
        self.unsupported = None
        self.np, self.torch = np, torch
        self.classes = classes
        self.batch_size = int(params.get("batch_size", 128))
        self.lr = float(params.get("lr", 1e-3))
        self.weight_decay = float(params.get("weight_decay", 0.01))
        torch.set_num_threads(int(params.get("threads", 1)))
        torch.use_deterministic_algorithms(True)
        data_dir = params["data_dir"]

        def load(kind):
            images, (n, h, w) = read_idx(find(data_dir, f"{kind}-images-idx3-ubyte"))
            labels, (m,) = read_idx(find(data_dir, f"{kind}-labels-idx1-ubyte"))
            if m != n:
                raise ValueError(f"{data_dir}: {n} {kind} images but {m} labels")
            x = np.frombuffer(images, dtype=np.uint8).reshape(n, 1, h, w).astype(np.float32) / 255.0
            return x, np.frombuffer(labels, dtype=np.uint8).astype(np.int64)

        x, y = load("train")
        x_test, y_test = load("t10k")
        order = np.random.default_rng(int(params.get("split_seed", 0))).permutation(len(x))
        val_size = int(params.get("val_size", 5000))
        val, train = order[:val_size], order[val_size:]
        mean, std = float(x[train].mean()), float(x[train].std())
        norm = lambda a: torch.from_numpy((a - mean) / std)  # noqa: E731
        self.train = (norm(x[train]), torch.from_numpy(y[train]))
        self.val = (norm(x[val]), torch.from_numpy(y[val]))
        self.test = (norm(x_test), torch.from_numpy(y_test))
        self.shape = tuple(x.shape[1:])

    def build(self, arch):
        nn = self.torch.nn
        acts = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "gelu": nn.GELU}
        layers, (c, h, w), flat = [], self.shape, None
        for text in arch.split(" > "):
            m = LAYER.match(text)
            if m is None:
                raise ValueError(f"cannot read layer `{text}`")
            if m["k"]:
                k, f = int(m["k"]), int(m["f"])
                if m["valid"]:
                    layers.append(nn.Conv2d(c, f, k))
                    h, w = h - k + 1, w - k + 1
                else:
                    layers.append(nn.Conv2d(c, f, k, padding="same"))
                layers.append(acts[m["ca"]]())
                c = f
            elif m["pool"]:
                layers.append(nn.MaxPool2d(2))
                h, w = h // 2, w // 2
            elif m["u"]:
                if flat is None:
                    layers.append(nn.Flatten())
                    flat = c * h * w
                layers += [nn.Linear(flat, int(m["u"])), acts[m["da"]]()]
                flat = int(m["u"])
            else:
                layers.append(nn.Dropout(float(m["rate"])))
        if flat is None:
            layers.append(nn.Flatten())
            flat = c * h * w
        layers.append(nn.Linear(flat, self.classes))
        return nn.Sequential(*layers)

    def score(self, model, data):
        torch = self.torch
        x, y = data
        correct, loss = 0, 0.0
        model.eval()
        with torch.no_grad():
            for i in range(0, len(x), 1000):
                out = model(x[i : i + 1000])
                loss += torch.nn.functional.cross_entropy(out, y[i : i + 1000], reduction="sum").item()
                correct += (out.argmax(1) == y[i : i + 1000]).sum().item()
        return correct / len(x), loss / len(x)

    def evaluate(self, arch, genes, budget, seed, test):
        if self.unsupported:
            raise ValueError(self.unsupported)
        torch = self.torch
        torch.manual_seed(seed % 2**63)
        model = self.build(arch)
        opt = torch.optim.AdamW(model.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        x, y = self.train
        n = min(len(x), budget.get("train_subset") or len(x))
        generator = torch.Generator().manual_seed(seed % 2**63)
        start = time.perf_counter()
        model.train()
        for _ in range(budget["epochs"]):
            perm = torch.randperm(n, generator=generator)
            for i in range(0, n, self.batch_size):
                idx = perm[i : i + self.batch_size]
                opt.zero_grad(set_to_none=True)
                loss = torch.nn.functional.cross_entropy(model(x[idx]), y[idx])
                if not torch.isfinite(loss):
                    return {"status": "diverged", "reason": "the training loss is not finite",
                            "metrics": {"epochs": budget["epochs"]}}
                loss.backward()
                opt.step()
        seconds = time.perf_counter() - start
        val_acc, val_loss = self.score(model, self.val)
        metrics = {
            "val_acc": val_acc, "val_loss": val_loss, "epochs": budget["epochs"],
            "train_seconds": seconds,
            "params": sum(p.numel() for p in model.parameters()),
        }
        if not math.isfinite(val_loss):
            return {"status": "diverged", "reason": "the validation loss is not finite",
                    "metrics": {"epochs": budget["epochs"], "train_seconds": seconds}}
        if test:
            metrics["test_acc"], metrics["test_loss"] = self.score(model, self.test)
        return {"status": "ok", "metrics": metrics}


if __name__ == "__main__":
    nas_protocol.run(TorchEvaluator())

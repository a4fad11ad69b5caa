#!/usr/bin/env python3
"""Build the import data of the NAS-Bench-Macro table from the published file.

Reads ../shared/benchmarks/nas-bench-macro/nas-bench-macro_cifar10.json (checked against
its SHA-256) and writes one CSV in the column format of `nas import-table` (accuracies in
percent, as published):

    arch             the 8-digit NAS-Bench-Macro key (nas reads it as a macro network)
    params           parameters, as published
    macs             multiply-accumulates per image, the benchmark's `flops`
    test_acc@50#k    CIFAR-10 test accuracy of the k-th of three independent trainings
                     (50 epochs each)
    test_acc@50      their mean (the benchmark's `mean_acc`)

Usage (standard library only):

    python3 benchmarks/nas-bench-macro/build.py --shared ../shared/benchmarks --out DIR
    nas import-table benchmarks/nas-bench-macro/cifar10.import.toml --data DIR/cifar10.csv \\
        --out benchmarks/nas-bench-macro/cifar10
"""

import argparse
import csv
import hashlib
import json
import pathlib
import sys

SHA256 = "686dee8363cc21cca8c1f321ad5749454f2d9b9ca5972682e137e539bc522297"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", required=True, type=pathlib.Path,
                        help="the folder holding nas-bench-macro/")
    parser.add_argument("--out", required=True, type=pathlib.Path)
    args = parser.parse_args()
    path = args.shared / "nas-bench-macro" / "nas-bench-macro_cifar10.json"
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if digest != SHA256:
        sys.exit(f"{path}: SHA-256 {digest}, expected {SHA256}")
    table = json.loads(data)
    if len(table) != 6561:
        sys.exit(f"{path}: {len(table)} networks, expected 6,561")
    args.out.mkdir(parents=True, exist_ok=True)
    out = args.out / "cifar10.csv"
    with out.open("w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["arch", "params", "macs", "test_acc@50#0", "test_acc@50#1",
                    "test_acc@50#2", "test_acc@50"])
        for key in sorted(table):
            e = table[key]
            if len(e["test_acc"]) != 3:
                sys.exit(f"{key}: {len(e['test_acc'])} trainings, expected 3")
            w.writerow([key, e["params"], e["flops"], *map(repr, e["test_acc"]),
                        repr(e["mean_acc"])])
    print(f"wrote {out} ({len(table)} networks)")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Build the import data of the NAS-Bench-201 tables from the published files.

Reads the three NAS-Bench-201 files of ../shared/benchmarks/nas-bench-201 (checked
against their SHA-256), joins them row by row (row r is NB201 index r in each; the arch
strings must agree), and writes one CSV per data set in the column format of
`nas import-table` (accuracies in percent, as published):

    arch                  the NB201 arch string (the cell's canonical text in nas)
    val_acc@12            12-epoch validation accuracy, mean over seeds (the search signal)
    test_acc@12           12-epoch test accuracy, mean over seeds
    train_seconds@12      12/200 of the recorded 200-epoch training time (an estimate:
                          12-epoch times are not in these files)
    val_acc@200           200-epoch validation accuracy, mean over seeds
    val_acc@200#k         200-epoch validation accuracy of the k-th recorded seed
                          (777, 888, 999 in order; 2 or 3 per architecture)
    test_acc@200          200-epoch test accuracy, mean over seeds (what NB201 reports)
    train_seconds@200     the recorded 200-epoch training time

CIFAR-10's validation values come from `cifar10-valid` (trained on 25k images, scored on
the 25k held out); its test accuracy from `cifar10` (trained on all 50k). For CIFAR-100
and ImageNet16-120 the 200-epoch per-seed values were measured on the validation and test
sets together (NB201's `valtest`). Parameters are left to nas, which counts them
analytically from the space.

Usage (standard library only):

    python3 benchmarks/nas-bench-201/build.py --shared ../shared/benchmarks --out DIR

then, for each data set, `nas import-table benchmarks/nas-bench-201/<name>.import.toml
--data DIR/<name>.csv --out benchmarks/nas-bench-201/<name>` (see README.md).
"""

import argparse
import csv
import hashlib
import pathlib
import sys

SHA256 = {
    "nb201_12ep_val_test.csv": "dd03f9c5ffc3ad6fcc7abeae23c0844d840f0a65d243b01926dcd83ca5c93999",
    "nb201_200ep_test.csv": "cb5d777ec3368be83c8f9b3aa4d520696051cb0eb8d94b8f85b519f9ea4afa3e",
    "nb201_200ep_valid_per_seed.csv": "3c7178387d4a7bf049682a830bc395faaa3138726f12668cc405ab00fdbfdb11",
}

# name: (12-epoch val column, 12-epoch test column, 200-epoch test column,
#        per-seed prefix in the valid_per_seed file)
DATASETS = {
    "cifar10": ("cifar10-val", "cifar10-test", "CIFAR10TestAccuracy200Epochs", "c10valid_val"),
    "cifar100": ("cifar100-val", "cifar100-test", "CIFAR100TestAccuracy200Epochs", "c100_valtest"),
    "imagenet16-120": ("imagenet-val", "imagenet-test", "ImageNetTestAccuracy200Epochs", "in16_valtest"),
}

COLUMNS = [
    "arch",
    "val_acc@12",
    "test_acc@12",
    "train_seconds@12",
    "val_acc@200",
    "val_acc@200#0",
    "val_acc@200#1",
    "val_acc@200#2",
    "test_acc@200",
    "train_seconds@200",
]


def read(path):
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if digest != SHA256[path.name]:
        sys.exit(f"{path}: SHA-256 {digest}, expected {SHA256[path.name]}")
    return list(csv.DictReader(data.decode("utf-8").splitlines()))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", required=True, type=pathlib.Path,
                        help="the folder holding nas-bench-201/")
    parser.add_argument("--out", required=True, type=pathlib.Path)
    args = parser.parse_args()
    src = args.shared / "nas-bench-201"
    twelve = read(src / "nb201_12ep_val_test.csv")
    test200 = read(src / "nb201_200ep_test.csv")
    seeds200 = read(src / "nb201_200ep_valid_per_seed.csv")
    if not len(twelve) == len(test200) == len(seeds200) == 15625:
        sys.exit("the three files do not hold 15,625 rows each")
    for r, (a, b, c) in enumerate(zip(twelve, test200, seeds200)):
        if not (a["cellstr"] == b["ArchitectureString"] == c["arch_str"]) or int(a["arch"]) != r:
            sys.exit(f"row {r}: the files disagree on the architecture")
    args.out.mkdir(parents=True, exist_ok=True)
    for name, (val12, test12, test200_col, prefix) in DATASETS.items():
        rows = []
        for a, b, c in zip(twelve, test200, seeds200):
            t200 = float(c[f"{prefix}_train_time_s"])
            seeds = c[f"{prefix}_200ep_seeds"].split(";")
            if not 1 <= len(seeds) <= 3:
                sys.exit(f"{a['cellstr']}: {len(seeds)} seeds")
            seeds += [""] * (3 - len(seeds))
            rows.append([
                a["cellstr"],
                a[val12],
                a[test12],
                repr(t200 * 12 / 200),
                c[f"{prefix}_200ep_mean"],
                *seeds,
                b[test200_col],
                c[f"{prefix}_train_time_s"],
            ])
        out = args.out / f"{name}.csv"
        with out.open("w", newline="") as f:
            w = csv.writer(f, lineterminator="\n")
            w.writerow(COLUMNS)
            w.writerows(rows)
        print(f"wrote {out} ({len(rows)} architectures)")


if __name__ == "__main__":
    main()

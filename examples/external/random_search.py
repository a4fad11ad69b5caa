#!/usr/bin/env python3
"""Uniform random search over the genes, as an external nas strategy (standard library
only): each gene drawn uniformly from a `random.Random` seeded by nas, re-drawn until nas
confirms the genome is an architecture of the space (chain spaces have invalid genomes).

    [[strategy]]
    kind = "external"
    name = "python-random"
    command = ["python3", "../examples/external/random_search.py"]   # relative to the config
"""

import pathlib
import random
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "python"))
import nas_protocol  # noqa: E402


class RandomGenes(nas_protocol.Strategy):
    def init(self, space, params, seed, budget, run):
        self.rng = random.Random(seed)
        self.cards = [g["cardinality"] for g in space["genes"]]

    def ask(self):
        while True:
            genes = [self.rng.randrange(c) for c in self.cards]
            answer = self.query(genes=genes)
            if answer["arch"] is not None:
                return {"arch": answer["arch"]}


if __name__ == "__main__":
    nas_protocol.run(RandomGenes())

"""The process side of nas's external protocol (docs/protocol.md), standard library only.

Write a strategy or an evaluator by subclassing `Strategy` or `Evaluator` and calling
`run(instance)`; nas starts the script, speaks to it over stdin/stdout (one JSON object
per line) and appends its stderr to a log file under the output folder, so print
diagnostics to stderr, never to stdout.

    import nas_protocol

    class MyStrategy(nas_protocol.Strategy):
        def init(self, space, params, seed, budget, run):
            self.rng = random.Random(seed)          # everything from the seed nas gives
            self.genes = space["genes"]
        def ask(self):
            return {"genes": [self.rng.randrange(g["cardinality"]) for g in self.genes]}
        def tell(self, trial):
            pass                                     # trial["fitness"] is None unless ok

    nas_protocol.run(MyStrategy())

A strategy must be deterministic in its seed: a resumed run starts it again and replays
the asks and tells of its journal, and nas refuses to go on if a proposal differs.
"""

import json
import sys

PROTOCOL = 1


class ProtocolError(Exception):
    """nas sent something this client does not understand."""


class _Channel:
    def __init__(self, inp, out):
        self.inp = inp
        self.out = out

    def send(self, message):
        self.out.write(json.dumps(message, allow_nan=False, separators=(",", ":")) + "\n")
        self.out.flush()

    def receive(self):
        line = self.inp.readline()
        if not line:
            return None
        return json.loads(line)


class Strategy:
    """Override `ask` (and usually `init` and `tell`)."""

    _channel = None

    def init(self, space, params, seed, budget, run):
        """The space (kind, params, input, count, genes: [{name, cardinality}], text),
        the `params` of the config's [[strategy]], the seed to draw everything from, the
        run's budget ({evaluations, max_train_epochs?, max_train_seconds?}) and the run's
        name/repetition."""

    def ask(self):
        """Return {"arch": "<canonical text>"} or {"genes": [...]}."""
        raise NotImplementedError

    def tell(self, trial):
        """A trial of one of the proposals finished: {index, arch, genes, seed, status,
        fitness (None unless status is ok), val_loss, cached, reason}."""

    def query(self, arch=None, genes=None):
        """While answering `ask`: is this an architecture of the space? Returns
        {"arch": text or None, "genes": [...] or None, "reason": why not or None}."""
        message = {"type": "query"}
        if arch is not None:
            message["arch"] = arch
        if genes is not None:
            message["genes"] = list(genes)
        self._channel.send(message)
        answer = self._channel.receive()
        if answer is None or answer.get("type") != "query_result":
            raise ProtocolError(f"expected query_result, got {answer!r}")
        return answer


class Evaluator:
    """Override `evaluate` (and usually `init`)."""

    def init(self, space, params, classes):
        """The space, the `params` of the config's [evaluator] and the number of
        classes."""

    def evaluate(self, arch, genes, budget, seed, test):
        """Train and score `arch` ({epochs, train_subset?} budget, weights and order from
        `seed`, the test set only when `test`). Return {"status": "ok" or "diverged",
        "metrics": {"val_acc", "val_loss", "test_acc", "test_loss", "params", "macs",
        "epochs", "train_seconds"}, "reason": ...}; accuracies are fractions in [0, 1].
        Raise an exception to make the trial `failed`."""
        raise NotImplementedError


def run(handler, inp=sys.stdin, out=sys.stdout, name=None):
    """The message loop: answers nas until `close` (or end of input)."""
    channel = _Channel(inp, out)
    handler._channel = channel
    while True:
        message = channel.receive()
        if message is None:
            return
        kind = message.get("type")
        try:
            if kind == "hello":
                if message.get("protocol") != PROTOCOL:
                    raise ProtocolError(
                        f"nas speaks protocol {message.get('protocol')}, this client {PROTOCOL}")
                channel.send({"type": "hello", "protocol": PROTOCOL,
                              "name": name or type(handler).__name__, "capabilities": []})
            elif kind == "init":
                if isinstance(handler, Strategy):
                    handler.init(message["space"], message.get("params") or {},
                                 message.get("seed"), message.get("budget"), message.get("run"))
                else:
                    handler.init(message["space"], message.get("params") or {},
                                 message.get("classes"))
                channel.send({"type": "ok"})
            elif kind == "ask":
                proposal = handler.ask()
                channel.send({"type": "proposal", **proposal})
            elif kind == "tell":
                handler.tell(message["trial"])
                channel.send({"type": "ok"})
            elif kind == "evaluate":
                result = handler.evaluate(message["arch"], message["genes"], message["budget"],
                                          message["seed"], message["test"])
                channel.send({"type": "result", "status": result.get("status", "ok"),
                              "reason": result.get("reason"),
                              "metrics": result.get("metrics", {})})
            elif kind == "close":
                return
            else:
                raise ProtocolError(f"unknown message type {kind!r}")
        except Exception as e:  # noqa: BLE001 - every failure goes back to nas
            print(f"{type(e).__name__}: {e}", file=sys.stderr)
            channel.send({"type": "error", "message": f"{type(e).__name__}: {e}"})

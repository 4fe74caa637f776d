"""Logistic regression on a generated data set, in pure Python: a real (small) training job.

Follows trainctl's contract: checkpoints go to $TRAINCTL_CHECKPOINT_DIR after every epoch; a run
resumes from $TRAINCTL_RESUME_FROM when it is set; SIGTERM saves a checkpoint and exits; loss and
accuracy of every epoch are appended to $TRAINCTL_METRICS_FILE (`trainctl status` and `top` show the
newest, the Prometheus exporter serves them); final metrics go to stdout and to
$TRAINCTL_ARTIFACT_DIR/metrics.json.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import signal
import sys
import time
from pathlib import Path

FEATURES = 4
TRUE_WEIGHTS = [1.5, -2.0, 0.75, 0.5]
TRUE_BIAS = -0.25

stop_requested = False


def on_sigterm(signum: int, frame: object) -> None:
    global stop_requested
    stop_requested = True


def make_data(n: int, seed: int) -> list[tuple[list[float], int]]:
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        x = [rng.gauss(0, 1) for _ in range(FEATURES)]
        z = sum(w * xi for w, xi in zip(TRUE_WEIGHTS, x, strict=True)) + TRUE_BIAS
        y = 1 if rng.random() < 1 / (1 + math.exp(-z)) else 0
        rows.append((x, y))
    return rows


def sigmoid(z: float) -> float:
    return 1 / (1 + math.exp(-max(-60.0, min(60.0, z))))


def epoch(weights: list[float], bias: float, data: list[tuple[list[float], int]], lr: float) -> tuple[list[float], float, float]:
    grad_w = [0.0] * FEATURES
    grad_b = 0.0
    loss = 0.0
    for x, y in data:
        p = sigmoid(sum(w * xi for w, xi in zip(weights, x, strict=True)) + bias)
        loss -= y * math.log(p + 1e-12) + (1 - y) * math.log(1 - p + 1e-12)
        for i in range(FEATURES):
            grad_w[i] += (p - y) * x[i]
        grad_b += p - y
    n = len(data)
    weights = [w - lr * g / n for w, g in zip(weights, grad_w, strict=True)]
    return weights, bias - lr * grad_b / n, loss / n


def accuracy(weights: list[float], bias: float, data: list[tuple[list[float], int]]) -> float:
    hits = sum(1 for x, y in data if (sigmoid(sum(w * xi for w, xi in zip(weights, x, strict=True)) + bias) >= 0.5) == (y == 1))
    return hits / len(data)


def save_checkpoint(directory: Path, state: dict[str, object]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"epoch-{state['epoch']:04d}.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(state))
    tmp.replace(path)
    return path


def report(path: str, values: dict[str, float]) -> None:
    """Append one line of numbers to the metrics file trainctl reads (nothing when run outside trainctl)."""
    if not path:
        return
    with open(path, "a") as handle:
        handle.write(json.dumps(values) + "\n")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--epoch-seconds", type=float, default=float(os.environ.get("EPOCH_SECONDS", "0.3")))
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, on_sigterm)

    lr = float(os.environ.get("LEARNING_RATE", "0.5"))
    ckpt_dir = Path(os.environ.get("TRAINCTL_CHECKPOINT_DIR", "checkpoints"))
    artifacts = Path(os.environ.get("TRAINCTL_ARTIFACT_DIR", "artifacts"))
    resume = os.environ.get("TRAINCTL_RESUME_FROM", "")
    metrics_file = os.environ.get("TRAINCTL_METRICS_FILE", "")

    train, test = make_data(args.samples, seed=1), make_data(args.samples // 4, seed=2)
    weights, bias, start = [0.0] * FEATURES, 0.0, 0
    if resume:
        state = json.loads(Path(resume).read_text())
        weights, bias, start = state["weights"], state["bias"], state["epoch"]
        print(f"resumed from {resume} at epoch {start}", flush=True)

    for n in range(start + 1, args.epochs + 1):
        weights, bias, loss = epoch(weights, bias, train, lr)
        save_checkpoint(ckpt_dir, {"epoch": n, "weights": weights, "bias": bias, "loss": loss})
        acc = accuracy(weights, bias, test)
        report(metrics_file, {"epoch": n, "loss": round(loss, 6), "accuracy": round(acc, 6)})
        print(f"epoch {n}/{args.epochs} loss={loss:.4f} accuracy={acc:.4f}", flush=True)
        time.sleep(args.epoch_seconds)
        if stop_requested:
            print(f"SIGTERM: checkpoint of epoch {n} saved, stopping", flush=True)
            return 143

    metrics = {"accuracy": round(accuracy(weights, bias, test), 4), "loss": round(loss, 4), "epochs": args.epochs}
    artifacts.mkdir(parents=True, exist_ok=True)
    (artifacts / "metrics.json").write_text(json.dumps(metrics))
    print(f"final metrics: {json.dumps(metrics)}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

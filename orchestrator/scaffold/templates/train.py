"""A minimal training script following trainctl's contract (written by `trainctl init`; replace the model).

trainctl sets TRAINCTL_CHECKPOINT_DIR (save checkpoints there), TRAINCTL_RESUME_FROM (the newest
checkpoint, or empty on a first run) and TRAINCTL_METRICS_FILE (append JSON lines of numbers).
SIGTERM means: save a checkpoint and exit soon (a spot preemption, `trainctl cancel`, the runtime limit).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from pathlib import Path

stop_requested = False


def on_sigterm(signum: int, frame: object) -> None:
    global stop_requested
    stop_requested = True


def save_checkpoint(directory: Path, state: dict[str, float]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"step-{int(state['epoch']):06d}.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(state))
    tmp.replace(path)  # atomic: a checkpoint is whole or absent


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=5)
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, on_sigterm)
    checkpoints = Path(os.environ.get("TRAINCTL_CHECKPOINT_DIR", "checkpoints"))
    resume = os.environ.get("TRAINCTL_RESUME_FROM", "")
    metrics = os.environ.get("TRAINCTL_METRICS_FILE", "")
    lr = float(os.environ.get("LEARNING_RATE", "0.1"))

    state = {"epoch": 0.0, "weight": 0.0}
    if resume:
        state = json.loads(Path(resume).read_text())
        print(f"resumed from {resume} at epoch {int(state['epoch'])}", flush=True)
    for epoch in range(int(state["epoch"]) + 1, args.epochs + 1):
        state["weight"] += lr * (1.0 - state["weight"])  # the "model": replace with yours
        state["epoch"] = float(epoch)
        loss = (1.0 - state["weight"]) ** 2
        accuracy = state["weight"]  # your validation accuracy here
        save_checkpoint(checkpoints, state)
        if metrics:
            with open(metrics, "a") as handle:
                handle.write(json.dumps({"step": epoch, "loss": loss, "accuracy": accuracy}) + "\n")
        print(f"epoch {epoch}/{args.epochs} loss={loss:.4f} accuracy={accuracy:.4f}", flush=True)
        if stop_requested:
            print(f"SIGTERM: checkpoint of epoch {epoch} saved, stopping", flush=True)
            return 143
        time.sleep(0.2)
    return 0


if __name__ == "__main__":
    sys.exit(main())

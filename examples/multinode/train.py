"""Data-parallel training of a small network on generated data: PyTorch DDP over the gloo backend (CPU).

Launched by torchrun on every node (one process per node here); DistributedDataParallel averages the
gradients across nodes, so every rank holds the same weights after every step although each trains on
its own shard of the data. Follows trainctl's contract: rank 0 writes a checkpoint to
$TRAINCTL_CHECKPOINT_DIR after every epoch (the job's checkpoints are rank 0's); every rank resumes from
$TRAINCTL_RESUME_FROM when it is set; SIGTERM stops every rank at the same step (rank 0 saves first);
rank 0 appends loss per epoch to $TRAINCTL_METRICS_FILE. At the end each rank writes its final weights
and their SHA-256 to $TRAINCTL_ARTIFACT_DIR/final-weights.json and prints the digest.

Knobs (environment): EPOCHS (default 12), STEP_SECONDS (a pause per step, to watch or interrupt a run).
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sys
import time
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, TensorDataset
from torch.utils.data.distributed import DistributedSampler

SAMPLES, FEATURES, BATCH = 1024, 8, 32
stop_requested = False


def on_sigterm(signum: int, frame: object) -> None:
    global stop_requested
    stop_requested = True


def generated_data() -> TensorDataset:
    """The same data set on every rank: y = tanh(x . w) + noise, from a fixed seed."""
    g = torch.Generator().manual_seed(1234)
    x = torch.randn(SAMPLES, FEATURES, generator=g)
    w = torch.randn(FEATURES, 1, generator=g) / FEATURES**0.5
    y = torch.tanh(x @ w) + 0.05 * torch.randn(SAMPLES, 1, generator=g)
    return TensorDataset(x, y)


def weights_digest(model: nn.Module) -> str:
    h = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(tensor.detach().contiguous().numpy().tobytes())
    return h.hexdigest()


def save_checkpoint(directory: Path, epoch: int, model: nn.Module, optimizer: torch.optim.Optimizer) -> Path:
    """Write epoch-NNNN.pt atomically (a .tmp name first: trainctl never syncs a half-written file)."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"epoch-{epoch:04d}.pt"
    tmp = path.with_name(path.name + ".tmp")
    torch.save({"epoch": epoch, "model": model.state_dict(), "optimizer": optimizer.state_dict()}, tmp)
    tmp.replace(path)
    return path


def main() -> int:
    signal.signal(signal.SIGTERM, on_sigterm)
    dist.init_process_group("gloo")  # env:// from torchrun: MASTER_ADDR, MASTER_PORT, RANK, WORLD_SIZE
    rank, world = dist.get_rank(), dist.get_world_size()
    node = os.environ.get("TRAINCTL_NODE_RANK", "0")
    epochs = int(os.environ.get("EPOCHS", "12"))
    step_s = float(os.environ.get("STEP_SECONDS", "0"))
    ckpt_dir = Path(os.environ.get("TRAINCTL_CHECKPOINT_DIR", "checkpoints"))
    out_dir = Path(os.environ.get("TRAINCTL_ARTIFACT_DIR", "outputs"))
    metrics_file = os.environ.get("TRAINCTL_METRICS_FILE")

    torch.manual_seed(0)  # the same initial weights on every rank (DDP also broadcasts rank 0's)
    model = nn.Sequential(nn.Linear(FEATURES, 16), nn.Tanh(), nn.Linear(16, 1))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    start = 1
    resume = os.environ.get("TRAINCTL_RESUME_FROM")
    if resume:
        state = torch.load(resume)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        start = state["epoch"] + 1
        print(f"rank {rank} (node {node}): resumed from {Path(resume).name} at epoch {start}", flush=True)
    ddp = DistributedDataParallel(model)
    data = generated_data()
    sampler = DistributedSampler(data, num_replicas=world, rank=rank, shuffle=True, seed=7)
    loader = DataLoader(data, batch_size=BATCH, sampler=sampler)
    loss_fn = nn.MSELoss()
    print(f"rank {rank} of {world} (node {node}): epochs {start}..{epochs}, {len(sampler)} samples each", flush=True)

    for epoch in range(start, epochs + 1):
        sampler.set_epoch(epoch)
        total = torch.zeros(2)
        for x, y in loader:
            optimizer.zero_grad()
            loss = loss_fn(ddp(x), y)
            loss.backward()  # DDP all-reduces (averages) the gradients over gloo here
            optimizer.step()
            total += torch.tensor([loss.item() * len(x), len(x)])
            if step_s:
                time.sleep(step_s)
            # Every rank stops at the same step when any got SIGTERM (a collective, not a local guess).
            stop = torch.tensor([1.0 if stop_requested else 0.0])
            dist.all_reduce(stop, op=dist.ReduceOp.MAX)
            if stop.item():
                if rank == 0:
                    saved = save_checkpoint(ckpt_dir, epoch - 1, model, optimizer) if epoch > 1 else None
                    print(f"rank 0: stopping (SIGTERM); newest checkpoint {saved.name if saved else 'none'}", flush=True)
                dist.destroy_process_group()
                return 143
        dist.all_reduce(total)
        loss = (total[0] / total[1]).item()
        if rank == 0:
            save_checkpoint(ckpt_dir, epoch, model, optimizer)
            print(f"epoch {epoch}/{epochs} loss {loss:.5f}", flush=True)
            if metrics_file:
                with open(metrics_file, "a") as handle:
                    handle.write(json.dumps({"epoch": epoch, "loss": loss}) + "\n")

    digest = weights_digest(model)
    out_dir.mkdir(parents=True, exist_ok=True)
    weights = [tensor.tolist() for _, tensor in sorted(model.state_dict().items())]
    (out_dir / "final-weights.json").write_text(json.dumps({"rank": rank, "sha256": digest, "weights": weights}))
    print(f"rank {rank} (node {node}): final weights sha256 {digest}", flush=True)
    dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())

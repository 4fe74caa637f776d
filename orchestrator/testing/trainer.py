"""A configurable stand-in training script for lifecycle tests (copied into a job's workdir).

Environment: STEPS (default 20), STEP_SECONDS (0.2), FAIL_AT (exit 3 at that step on a fresh start),
FAIL_ALWAYS (exit 3 at FAIL_AT even when resumed), IGNORE_SIGTERM (keep training through SIGTERM: a
stop then waits out the grace period), REPORT_ENV (comma-separated names: prints ``env NAME len=N
sha256=PREFIX`` for each at start, never the value), ENV_DUMP (write the run's environment as JSON to
that file name in TRAINCTL_ARTIFACT_DIR), LOSS_SCALE (default 1.0: each step appends
``{"step": N, "loss": LOSS_SCALE / N}`` to TRAINCTL_METRICS_FILE when that is set). Writes
``step-NNNN.json`` checkpoints, resumes from TRAINCTL_RESUME_FROM, saves a checkpoint and exits 143 on SIGTERM.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sys
import time
from pathlib import Path

stop = False


def _on_term(signum: int, frame: object) -> None:
    global stop
    stop = True


def main() -> int:
    signal.signal(signal.SIGTERM, signal.SIG_IGN if os.environ.get("IGNORE_SIGTERM") else _on_term)
    steps = int(os.environ.get("STEPS", "20"))
    step_s = float(os.environ.get("STEP_SECONDS", "0.2"))
    fail_at = int(os.environ.get("FAIL_AT", "0"))
    ckpt = Path(os.environ["TRAINCTL_CHECKPOINT_DIR"])
    resume = os.environ.get("TRAINCTL_RESUME_FROM", "")
    start = json.loads(Path(resume).read_text())["step"] if resume else 0
    if os.environ.get("ENV_DUMP"):
        Path(os.environ["TRAINCTL_ARTIFACT_DIR"], os.environ["ENV_DUMP"]).write_text(json.dumps(dict(os.environ)))
    print(f"trainer start={start} resume={resume or '-'} job={os.environ.get('TRAINCTL_JOB_ID')}", flush=True)
    for name in filter(None, os.environ.get("REPORT_ENV", "").split(",")):
        value = os.environ.get(name)
        digest = hashlib.sha256(value.encode()).hexdigest()[:16] if value is not None else "-"
        print(f"env {name} len={len(value or '')} sha256={digest}", flush=True)
    step = start
    for step in range(start + 1, steps + 1):
        time.sleep(step_s)
        (ckpt / f"step-{step:04d}.json").write_text(json.dumps({"step": step}))
        if os.environ.get("TRAINCTL_METRICS_FILE"):
            with open(os.environ["TRAINCTL_METRICS_FILE"], "a") as metrics:
                metrics.write(json.dumps({"step": step, "loss": float(os.environ.get("LOSS_SCALE", "1.0")) / step}) + "\n")
        print(f"step {step}", flush=True)
        if fail_at and step == fail_at and (not resume or os.environ.get("FAIL_ALWAYS")):
            print(f"failing at step {step}", file=sys.stderr, flush=True)
            return 3
        if stop:
            print(f"SIGTERM at step {step}: checkpoint saved", flush=True)
            return 143
    Path(os.environ["TRAINCTL_ARTIFACT_DIR"], "done.json").write_text(json.dumps({"steps": step}))
    print("trainer done", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

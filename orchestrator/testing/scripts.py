"""Tiny training scripts for agent tests: written into a workdir as ``train.py``."""

from __future__ import annotations

# Three checkpoint steps (each an atomically renamed directory), resuming after TRAINCTL_RESUME_FROM,
# then a metrics file in the artifact directory.
THREE_STEP_TRAINER = """\
import os, pathlib, time
ck = pathlib.Path(os.environ["TRAINCTL_CHECKPOINT_DIR"])
resume = os.environ["TRAINCTL_RESUME_FROM"]
start = int(pathlib.Path(resume).name.split("-")[1]) + 1 if resume else 0
print("resume from", pathlib.Path(resume).name if resume else "nothing", flush=True)
for step in range(start, start + 3):
    tmp = ck / f".step-{step:04d}"
    tmp.mkdir()
    (tmp / "weights.txt").write_text(str(step))
    os.replace(tmp, ck / f"step-{step:04d}")
    time.sleep(0.3)
pathlib.Path(os.environ["TRAINCTL_ARTIFACT_DIR"], "metrics.json").write_text('{"loss": 0.1}')
print("done", flush=True)
"""

"""Run by the Pulumi language host for `pulumi preview|refresh|destroy --stack JOB` (Pulumi.yaml `main`)."""

from orchestrator.program import run

run()

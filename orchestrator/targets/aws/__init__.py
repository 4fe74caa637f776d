"""The AWS target: one EC2 instance per job, supervised by the agent, artifacts in S3, output in CloudWatch Logs."""

#!/bin/bash
# trainctl bootstrap for job @JOB_ID@: install the agent and start it (`python3 -m orchestrator.agent`).
set -euo pipefail
exec >>/var/log/trainctl-bootstrap.log 2>&1
export AWS_DEFAULT_REGION=@REGION@ AWS_REGION=@REGION@
on_error() {
  echo "trainctl bootstrap failed; shutting down"
  "@ROOT@/venv/bin/python3" -c 'import boto3,sys; boto3.client("s3").upload_file(*sys.argv[1:])' \
    /var/log/trainctl-bootstrap.log @BUCKET@ @BOOTSTRAP_KEY@ \
    || aws s3 cp /var/log/trainctl-bootstrap.log s3://@BUCKET@/@BOOTSTRAP_KEY@ || true
  shutdown -h now
}
trap on_error ERR

id trainctl >/dev/null 2>&1 || useradd --system --create-home --shell /bin/bash trainctl
echo 'trainctl ALL=(root) NOPASSWD: /usr/sbin/shutdown' > /etc/sudoers.d/trainctl
chmod 0440 /etc/sudoers.d/trainctl
install -d -m 0755 @ROOT@ @AGENT_DIR@
install -d -m 0755 -o trainctl -g trainctl @WORKDIR@

PY=$(command -v python3.13 || command -v python3.12 || command -v python3.11 || true)
if [ -z "$PY" ]; then
  if command -v dnf >/dev/null; then dnf install -y -q python3.11
  else apt-get update -q && apt-get install -y -q python3.11-venv; fi
  PY=$(command -v python3.11)
fi
"$PY" -m venv @ROOT@/venv
@ROOT@/venv/bin/pip install --quiet --disable-pip-version-check boto3
command -v amazon-cloudwatch-agent-ctl >/dev/null || dnf install -y -q amazon-cloudwatch-agent \
  || echo "no CloudWatch agent: output is uploaded to S3 at the end"

@ROOT@/venv/bin/python3 - <<'FETCH'
import json, os, tarfile, tempfile
import boto3
s3 = boto3.client("s3")
for key, dest in (("@AGENT_KEY@", "@AGENT_DIR@"), ("@CODE_KEY@", "@WORKDIR@")):
    with tempfile.NamedTemporaryFile(suffix=".tar.gz") as archive:
        s3.download_fileobj("@BUCKET@", key, archive)
        archive.flush()
        with tarfile.open(archive.name) as tar:
            try:
                tar.extractall(dest, filter="data")
            except TypeError:
                tar.extractall(dest)  # noqa: S202 - our own archive, Python without extraction filters
names = "@SECRETS@".split()
lines = []
for start in range(0, len(names), 10):  # GetParameters takes at most 10 names
    found = boto3.client("ssm").get_parameters(Names=names[start : start + 10], WithDecryption=True)["Parameters"]
    lines += [p["Name"].rsplit("/", 1)[1] + "=" + json.dumps(p["Value"], ensure_ascii=False) for p in found]
fd = os.open("@ROOT@/secrets.env", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
with os.fdopen(fd, "w") as env:
    env.write("\n".join(lines) + "\n")
FETCH
echo '@CONFIG_B64@' | base64 -d > @CONFIG@
printf '%s\n' 'import sys, boto3' 'boto3.client("s3").upload_file(*sys.argv[1:])' > @ROOT@/upload.py
chown -R trainctl:trainctl @WORKDIR@

cat > @ROOT@/cloudwatch.json <<'CWAGENT'
{"logs": {"logs_collected": {"files": {"collect_list": [
  {"file_path": "@WORKDIR@/.trainctl/output.log", "log_group_name": "@LOG_GROUP@",
   "log_stream_name": "@OUTPUT_STREAM@{instance_id}"},
  {"file_path": "@ROOT@/agent.log", "log_group_name": "@LOG_GROUP@",
   "log_stream_name": "@AGENT_STREAM@{instance_id}"}
]}}, "force_flush_interval": 5}}
CWAGENT
amazon-cloudwatch-agent-ctl -a fetch-config -m ec2 -s -c file:@ROOT@/cloudwatch.json || echo "CloudWatch agent not started"

cat > /etc/systemd/system/trainctl-agent.service <<'UNIT'
[Unit]
Description=trainctl agent for job @JOB_ID@
Wants=network-online.target
After=network-online.target

[Service]
Type=simple
User=trainctl
WorkingDirectory=@WORKDIR@
Environment=PYTHONPATH=@AGENT_DIR@ AWS_DEFAULT_REGION=@REGION@ AWS_REGION=@REGION@ TRAINCTL_JOB_ID=@JOB_ID@
EnvironmentFile=-@ROOT@/secrets.env
ExecStart=@ROOT@/venv/bin/python3 -m orchestrator.agent @CONFIG@
ExecStopPost=-@ROOT@/venv/bin/python3 @ROOT@/upload.py @WORKDIR@/.trainctl/output.log @BUCKET@ @OUTPUT_KEY@
ExecStopPost=+/usr/sbin/shutdown -h now
KillMode=mixed
TimeoutStopSec=@STOP_TIMEOUT@
StandardOutput=append:@ROOT@/agent.log
StandardError=inherit

[Install]
WantedBy=multi-user.target
UNIT
systemctl daemon-reload
systemctl enable --now trainctl-agent.service

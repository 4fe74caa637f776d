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
@ROOT@/venv/bin/pip install --quiet --disable-pip-version-check @AGENT_PACKAGES@
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
OUTPUT_KEY=@OUTPUT_KEY@ OUTPUT_STREAM=@OUTPUT_STREAM@
if [ @NUM_NODES@ -gt 1 ]; then
  # One node of a multi-node job: trainctl writes this instance's rank, every node's address and the
  # rendezvous port to the bucket right after the launch; they complete the agent's configuration.
  @ROOT@/venv/bin/python3 - <<'NODE'
import json, sys, time, urllib.request
import boto3
sys.path.insert(0, "@AGENT_DIR@")
from orchestrator.agent.layout import node_output_key
imds = "http://169.254.169.254/latest"
ttl = {"X-aws-ec2-metadata-token-ttl-seconds": "300"}
token = urllib.request.urlopen(urllib.request.Request(imds + "/api/token", method="PUT", headers=ttl), timeout=5).read()
ask = urllib.request.Request(imds + "/meta-data/instance-id", headers={"X-aws-ec2-metadata-token": token.decode()})
instance_id = urllib.request.urlopen(ask, timeout=5).read().decode()
s3, deadline = boto3.client("s3"), time.monotonic() + 600
while True:
    try:
        node = json.loads(s3.get_object(Bucket="@BUCKET@", Key="@NODE_PREFIX@" + instance_id + ".json")["Body"].read())
        break
    except s3.exceptions.NoSuchKey:
        if time.monotonic() > deadline:
            raise
        time.sleep(5)
with open("@CONFIG@") as f:
    config = json.load(f)
config.update(node)
with open("@CONFIG@", "w") as f:
    json.dump(config, f, indent=1, sort_keys=True)
rank = int(node["node_rank"])
with open("@ROOT@/node.env", "w") as f:
    f.write(f"OUTPUT_KEY={node_output_key(rank)}\n")
    if rank:
        f.write("OUTPUT_STREAM=" + "@NODE_STREAM@".format(rank=rank) + "\n")
NODE
  . @ROOT@/node.env
fi
printf '%s\n' 'import sys, boto3' 'boto3.client("s3").upload_file(*sys.argv[1:])' > @ROOT@/upload.py
chown -R trainctl:trainctl @WORKDIR@

cat > @ROOT@/cloudwatch.json <<CWAGENT
{"logs": {"logs_collected": {"files": {"collect_list": [
  {"file_path": "@WORKDIR@/.trainctl/output.log", "log_group_name": "@LOG_GROUP@",
   "log_stream_name": "${OUTPUT_STREAM}{instance_id}"},
  {"file_path": "@ROOT@/agent.log", "log_group_name": "@LOG_GROUP@",
   "log_stream_name": "@AGENT_STREAM@{instance_id}"}
]}}, "force_flush_interval": 5}}
CWAGENT
amazon-cloudwatch-agent-ctl -a fetch-config -m ec2 -s -c file:@ROOT@/cloudwatch.json || echo "CloudWatch agent not started"

cat > /etc/systemd/system/trainctl-agent.service <<UNIT
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
ExecStopPost=-@ROOT@/venv/bin/python3 @ROOT@/upload.py @WORKDIR@/.trainctl/output.log @BUCKET@ ${OUTPUT_KEY}
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

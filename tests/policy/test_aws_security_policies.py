"""private-artifacts, no-open-ingress, imdsv2-required and encrypted-volumes on AWS resources."""

from __future__ import annotations

from orchestrator.policy.model import COMPUTED, Resource
from tests.policy.conftest import aws, findings, stack_findings

BUCKET = aws("s3/bucket:Bucket", {"bucket": "trainctl-j-1"}, name="artifacts")
BLOCK_ALL = {
    "bucket": "trainctl-j-1",
    **dict.fromkeys(("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"), True),
}
SSE = {"bucket": "trainctl-j-1", "rules": [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "AES256"}}]}
SSE_TYPE = "s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
PAB_TYPE = "s3/bucketPublicAccessBlock:BucketPublicAccessBlock"


def test_bucket_with_public_access_block_and_encryption_passes() -> None:
    """A bucket with an all-on public access block and AES256 default encryption passes."""
    resources = [BUCKET, aws(PAB_TYPE, BLOCK_ALL, "pab"), aws(SSE_TYPE, SSE, "sse")]
    assert stack_findings("private-artifacts", resources) == []


def test_bucket_without_its_settings_is_refused_twice() -> None:
    """A bare bucket lacks both a public access block and an encryption configuration."""
    found = stack_findings("private-artifacts", [BUCKET])
    assert [f.message for f in found] == [
        "bucket trainctl-j-1 has no public access block",
        "bucket trainctl-j-1 has no server-side encryption configuration",
    ]
    assert all(f.resource is BUCKET for f in found)


def test_public_access_block_with_a_setting_off_is_refused() -> None:
    """restrictPublicBuckets false (or missing) is named on the public access block resource."""
    settings = {k: v for k, v in BLOCK_ALL.items() if k != "restrictPublicBuckets"}
    pab = aws(PAB_TYPE, settings, "pab")
    [finding] = stack_findings("private-artifacts", [BUCKET, pab, aws(SSE_TYPE, SSE, "sse")])
    assert finding.message == "public access block leaves restrictPublicBuckets off" and finding.resource is pab


def test_settings_of_another_bucket_do_not_count() -> None:
    """A public access block naming a different bucket does not protect this one."""
    other = aws(PAB_TYPE, {**BLOCK_ALL, "bucket": "someone-else"}, "pab")
    second = aws("s3/bucket:Bucket", {"bucket": "second"}, name="second")
    messages = [f.message for f in stack_findings("private-artifacts", [BUCKET, second, other, aws(SSE_TYPE, SSE, "sse")])]
    assert "bucket trainctl-j-1 has no public access block" in messages


def test_settings_found_through_property_dependencies_when_ids_are_unknown() -> None:
    """During a preview the bucket id is unknown: the engine's property dependencies pair the settings."""
    second = aws("s3/bucket:Bucket", {"bucket": "second"}, name="second")
    pab = Resource(f"aws:{PAB_TYPE}", "pab", {**BLOCK_ALL, "bucket": COMPUTED}, deps={"bucket": [BUCKET.urn]})
    sse = Resource(f"aws:{SSE_TYPE}", "sse", {**SSE, "bucket": COMPUTED}, deps={"bucket": [BUCKET.urn]})
    messages = [f.message for f in stack_findings("private-artifacts", [BUCKET, second, pab, sse])]
    assert messages == ["bucket second has no public access block", "bucket second has no server-side encryption configuration"]


def test_public_acl_and_weak_encryption_are_refused() -> None:
    """A public-read ACL and an encryption rule without an algorithm are both violations."""
    acl = aws("s3/bucketAclV2:BucketAclV2", {"bucket": "trainctl-j-1", "acl": "public-read"}, "acl")
    weak = aws(SSE_TYPE, {"bucket": "trainctl-j-1", "rules": [{}]}, "sse")
    messages = [f.message for f in stack_findings("private-artifacts", [BUCKET, aws(PAB_TYPE, BLOCK_ALL, "pab"), weak, acl])]
    assert "canned ACL public-read makes objects public" in messages
    assert "encryption configuration names no AES256 or aws:kms default" in messages


def test_security_group_without_ingress_passes_even_with_open_egress() -> None:
    """trainctl's group: no ingress, egress to anywhere; egress is not judged."""
    group = aws("ec2/securityGroup:SecurityGroup", {"ingress": [], "egress": [{"cidrBlocks": ["0.0.0.0/0"], "protocol": "-1"}]})
    assert findings("no-open-ingress", group) == []


def test_ingress_open_to_the_internet_is_refused_for_v4_and_v6() -> None:
    """SSH from 0.0.0.0/0 and all traffic from ::/0 are each a violation naming ports and source."""
    ingress = [
        {"protocol": "tcp", "fromPort": 22.0, "toPort": 22.0, "cidrBlocks": ["0.0.0.0/0"]},
        {"protocol": "-1", "fromPort": 0.0, "toPort": 0.0, "ipv6CidrBlocks": ["::/0"]},
        {"protocol": "tcp", "fromPort": 443.0, "toPort": 443.0, "cidrBlocks": ["10.0.0.0/8"]},
    ]
    found = findings("no-open-ingress", aws("ec2/securityGroup:SecurityGroup", {"ingress": ingress}))
    assert [f.message for f in found] == [
        "ingress rule 0 (tcp port 22) admits 0.0.0.0/0, every address on the internet",
        "ingress rule 1 (all traffic) admits ::/0, every address on the internet",
    ]


def test_standalone_ingress_rules_are_judged_too() -> None:
    """A SecurityGroupRule of type ingress and a VPC ingress rule open to everyone are refused; egress rules are not."""
    rule = {"type": "ingress", "protocol": "tcp", "fromPort": 80.0, "toPort": 80.0, "cidrBlocks": ["0.0.0.0/0"]}
    assert findings("no-open-ingress", aws("ec2/securityGroupRule:SecurityGroupRule", rule))
    assert findings("no-open-ingress", aws("ec2/securityGroupRule:SecurityGroupRule", {**rule, "type": "egress"})) == []
    vpc_rule = {"ipProtocol": "tcp", "fromPort": 80.0, "toPort": 80.0, "cidrIpv4": "0.0.0.0/0"}
    assert findings("no-open-ingress", aws("vpc/securityGroupIngressRule:SecurityGroupIngressRule", vpc_rule))


def test_imdsv2_required_tokens_pass_and_optional_or_missing_fail() -> None:
    """httpTokens required passes; optional and absent metadata options are refused; a disabled endpoint passes."""
    template = "ec2/launchTemplate:LaunchTemplate"
    assert findings("imdsv2-required", aws(template, {"metadataOptions": {"httpTokens": "required"}})) == []
    assert findings("imdsv2-required", aws(template, {"metadataOptions": {"httpEndpoint": "disabled"}})) == []
    [optional] = findings("imdsv2-required", aws("ec2/instance:Instance", {"metadataOptions": {"httpTokens": "optional"}}))
    assert "'optional'" in optional.message and "http_tokens" in optional.fix
    [missing] = findings("imdsv2-required", aws(template, {"instanceType": "g5.xlarge"}))
    assert "not set" in missing.message


def test_launch_template_volumes_must_be_encrypted() -> None:
    """ebs.encrypted "true" (launch templates take strings) passes; "false" and no mapping at all are refused."""
    template = "ec2/launchTemplate:LaunchTemplate"

    def mapping(encrypted: object) -> dict[str, object]:
        return {"blockDeviceMappings": [{"deviceName": "/dev/xvda", "ebs": {"volumeSize": 100.0, "encrypted": encrypted}}]}

    assert findings("encrypted-volumes", aws(template, mapping("true"))) == []
    [off] = findings("encrypted-volumes", aws(template, mapping("false")))
    assert off.message == "blockDeviceMappings /dev/xvda is not encrypted"
    [none] = findings("encrypted-volumes", aws(template, {"instanceType": "g5.xlarge"}))
    assert "no block device mapping" in none.message


def test_instance_root_and_data_volumes_and_ebs_volumes_must_be_encrypted() -> None:
    """An instance's undeclared root volume and unencrypted data volume, and an unencrypted EBS volume, are refused."""
    instance = aws("ec2/instance:Instance", {"ebsBlockDevices": [{"deviceName": "/dev/sdf", "encrypted": False}]})
    assert [f.message for f in findings("encrypted-volumes", instance)] == [
        "rootBlockDevice (the root volume) is not declared encrypted",
        "ebsBlockDevices /dev/sdf is not encrypted",
    ]
    assert findings("encrypted-volumes", aws("ec2/instance:Instance", {"rootBlockDevice": {"encrypted": True}})) == []
    assert findings("encrypted-volumes", aws("ebs/volume:Volume", {"size": 10.0}))
    assert findings("encrypted-volumes", aws("ebs/volume:Volume", {"size": 10.0, "encrypted": True})) == []

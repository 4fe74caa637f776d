"""`down --purge` on AWS: delete what teardown retains, the job's bucket (every version) and log group."""

from __future__ import annotations

from typing import Any

from orchestrator.cloud import aws
from orchestrator.errors import CloudError


def delete_bucket(s3: Any, bucket: str) -> bool:
    """Delete every object version and delete marker, then the bucket; False when it did not exist."""
    try:
        with aws.calling("emptying the job's bucket (s3 ListObjectVersions/DeleteObjects)", bucket=bucket):
            for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
                doomed = [
                    {"Key": v["Key"], "VersionId": v["VersionId"]}
                    for v in page.get("Versions", []) + page.get("DeleteMarkers", [])
                ]
                for start in range(0, len(doomed), 1000):
                    s3.delete_objects(Bucket=bucket, Delete={"Objects": doomed[start : start + 1000], "Quiet": True})
        with aws.calling("deleting the job's bucket (s3 DeleteBucket)", bucket=bucket):
            s3.delete_bucket(Bucket=bucket)
    except CloudError as e:
        if aws.is_not_found(e):
            return False
        raise
    return True


def delete_log_group(logs: Any, group: str) -> bool:
    """Delete the job's log group; False when it did not exist."""
    try:
        with aws.calling("deleting the job's log group (logs DeleteLogGroup)", log_group=group):
            logs.delete_log_group(logGroupName=group)
    except CloudError as e:
        if aws.is_not_found(e):
            return False
        raise
    return True

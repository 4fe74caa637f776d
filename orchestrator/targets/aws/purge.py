"""`down --purge` on AWS: delete what teardown retains, the job's bucket (every version) and log group.

`gc` uses the same functions for leaked buckets and log groups. Each request runs under the one retry
policy (``aws.call``); emptying a bucket lists what is left and deletes it until nothing is.
"""

from __future__ import annotations

import functools
from typing import Any

from orchestrator.cloud import aws
from orchestrator.errors import AccessDeniedError, CloudError, TransientCloudError


def delete_bucket(s3: Any, bucket: str) -> bool:
    """Delete every object version and delete marker, then the bucket; False when it did not exist.

    Lists up to 1000 versions and deletes them, until none are left: each request is retried on its own.
    """
    try:
        while True:
            listed = aws.call(
                "emptying the job's bucket (s3 ListObjectVersions)",
                lambda: s3.list_object_versions(Bucket=bucket, MaxKeys=1000),
                bucket=bucket,
            )
            doomed = [
                {"Key": v["Key"], "VersionId": v["VersionId"]}
                for v in listed.get("Versions", []) + listed.get("DeleteMarkers", [])
            ]
            if not doomed:
                break
            aws.call(
                "emptying the job's bucket (s3 DeleteObjects)", functools.partial(_delete, s3, bucket, doomed), bucket=bucket
            )
        aws.call("deleting the job's bucket (s3 DeleteBucket)", lambda: s3.delete_bucket(Bucket=bucket), bucket=bucket)
    except CloudError as e:
        if aws.is_not_found(e):
            return False
        raise
    return True


def delete_log_group(logs: Any, group: str) -> bool:
    """Delete the job's log group; False when it did not exist."""
    try:
        aws.call(
            "deleting the job's log group (logs DeleteLogGroup)",
            lambda: logs.delete_log_group(logGroupName=group),
            log_group=group,
        )
    except CloudError as e:
        if aws.is_not_found(e):
            return False
        raise
    return True


def _delete(s3: Any, bucket: str, doomed: list[dict[str, str]]) -> None:
    """DeleteObjects answers 200 with per-key errors: throttled keys are retried, others fail naming a key."""
    errors: list[dict[str, Any]] = s3.delete_objects(Bucket=bucket, Delete={"Objects": doomed, "Quiet": True}).get("Errors") or []
    if not errors:
        return
    codes = {str(e.get("Code")) for e in errors}
    first = errors[0]
    text = f"emptying the job's bucket (s3 DeleteObjects) for bucket {bucket}: {len(errors)} object(s) not deleted"
    text += f", e.g. {first.get('Key')}: {first.get('Code')}: {first.get('Message') or ''}".rstrip(": ")
    context = {"bucket": bucket, "code": first.get("Code")}
    if codes <= aws.THROTTLING_CODES:
        raise TransientCloudError(text, context=context)
    if codes & aws.ACCESS_CODES:
        raise AccessDeniedError(text, context=context, hint="the AWS identity in use may not delete objects in this bucket")
    raise CloudError(text, context=context)

"""Sink prerequisites, checked before anything is collected or published.

A missing bucket, Timestream database or table, or a log group the job may not use is found at the start
of a run (``run_collection.sh`` -> ``settings_probe.py preflight``, and ``merge_data.py`` before its first
write), not after the archive and the query selector went out. Each problem is one ``RunFailed`` (exit 1,
one alert) naming the missing thing and how to create it. Only read calls are made:

- S3 store: ``ListObjectsV2`` of the store prefix, one key (what the job's IAM policy allows:
  ``s3:ListBucket`` with an ``s3:prefix`` condition; ``HeadBucket`` carries no prefix and would be refused).
- Timestream: ``DescribeDatabase`` and ``DescribeTable``. A policy that allows only ``WriteRecords`` answers
  AccessDenied: that is logged as "not verified" and the run goes on (the write itself still fails loudly).
- CloudWatch Logs: ``DescribeLogStreams`` of the group. A missing group or stream is fine (the sink creates
  both); AccessDenied means the job cannot write there: a failure.
- Local sinks need no call: settings already checked that their directories are writable.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from utils.errors import RunFailed
from utils.settings import Settings

log = logging.getLogger(__name__)

ClientFactory = Callable[[str], Any]
_DENIED = {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "403"}


def _code(exc: Exception) -> str:
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code") or type(exc).__name__)


def check_store(settings: Settings, s3: Any) -> None:
    """The S3 bucket exists and the store prefix can be listed."""
    bucket, prefix = settings.store.bucket, settings.store.prefix
    try:
        s3.list_objects_v2(Bucket=bucket, Prefix=f"{prefix}/" if prefix else "", MaxKeys=1)
    except (ClientError, BotoCoreError) as exc:
        code = _code(exc)
        if code == "NoSuchBucket":
            raise RunFailed(f"S3 bucket {bucket!r} does not exist: create it (aws s3 mb s3://{bucket} "
                            f"--region {settings.aws_region}) or fix SPOTLAKE_STORE") from exc  # fmt: skip
        if code in _DENIED:
            raise RunFailed(f"S3 bucket {bucket!r}: listing {settings.store.describe()} is denied ({code}); "
                            "grant s3:ListBucket on it for this prefix (infrastructure/iam.tf)") from exc  # fmt: skip
        raise RunFailed(f"S3 bucket {bucket!r} cannot be listed: {code}") from exc


def check_timestream(settings: Settings, timestream: Any) -> None:
    """The Timestream database and table exist (when the policy lets the job look)."""
    database, table = settings.timeseries.database, settings.timeseries.table
    try:
        timestream.describe_database(DatabaseName=database)
        timestream.describe_table(DatabaseName=database, TableName=table)
    except (ClientError, BotoCoreError) as exc:
        code = _code(exc)
        if code == "ResourceNotFoundException":
            message = str(getattr(exc, "response", {}).get("Error", {}).get("Message", ""))
            what = f"table {database}.{table}" if "table" in message.lower() else f"database {database!r}"
            raise RunFailed(
                f"Timestream {what} does not exist: create it (aws timestream-write create-database --database-name "
                f"{database}; aws timestream-write create-table --database-name {database} --table-name {table}) "
                "or set SPOTLAKE_TIMESERIES=parquet"
            ) from exc
        if code in _DENIED:
            # Not a failure: the deployed policy may grant WriteRecords only. The write step still fails loudly
            # (exit 1, state untouched) if the table is really missing, so the run stays correct.
            log.warning("Timestream %s.%s not verified: DescribeTable is denied (%s); the write will tell",
                        database, table, code)  # fmt: skip
            return
        raise RunFailed(f"Timestream {database}.{table} cannot be checked: {code}") from exc


def check_log_group(settings: Settings, logs: Any) -> None:
    """The job may use the CloudWatch Logs group (a group or stream that does not exist yet is created later)."""
    group, stream = settings.metrics.log_group, settings.metrics.log_stream
    try:
        logs.describe_log_streams(logGroupName=group, logStreamNamePrefix=stream, limit=1)
    except (ClientError, BotoCoreError) as exc:
        code = _code(exc)
        if code == "ResourceNotFoundException":
            log.info("CloudWatch Logs group %s does not exist yet; the metrics sink creates it", group)
            return
        if code in _DENIED:
            raise RunFailed(f"CloudWatch Logs group {group!r}: access denied ({code}); grant logs:DescribeLogStreams, "
                            "logs:CreateLogGroup, logs:CreateLogStream and logs:PutLogEvents on it "
                            "(see infrastructure/iam.tf) or set SPOTLAKE_METRICS") from exc  # fmt: skip
        raise RunFailed(f"CloudWatch Logs group {group!r} cannot be checked: {code}") from exc


def check_sinks(settings: Settings, client: ClientFactory | None = None) -> list[str]:
    """Check every AWS prerequisite the settings name; returns what was checked (for the log).

    ``client(service)`` builds a boto3 client (default: ``utils.aws.aws_client`` with these settings).

    Raises:
        RunFailed: a prerequisite is missing or unusable; the message says how to create or grant it.
    """
    if client is None:
        from utils.aws import aws_client

        def client(service: str) -> Any:
            return aws_client(service, settings)

    checked: list[str] = []
    if settings.store.kind == "s3":
        check_store(settings, client("s3"))
        checked.append(f"bucket {settings.store.bucket}")
    if settings.timeseries.kind == "timestream":
        check_timestream(settings, client("timestream-write"))
        checked.append(f"timestream {settings.timeseries.database}/{settings.timeseries.table}")
    if settings.metrics.kind == "cloudwatch":
        check_log_group(settings, client("logs"))
        checked.append(f"log group {settings.metrics.log_group}")
    return checked

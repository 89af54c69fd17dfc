"""boto3 client factory: one place that decides endpoints, region and retry mode.

Timestream needs an explicit ``endpoint_url`` whenever ``AWS_ENDPOINT_URL`` is set: botocore otherwise runs
endpoint discovery, gets ``ingest.timestream.<region>.amazonaws.com`` back from the mock and sends the
writes to real AWS (docs/aws-facts.md section 5, verified with moto 5.2.5).
"""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config

_RETRY_CONFIG = Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=10, read_timeout=60)


def aws_client(
    service: str, settings: Any, session: boto3.session.Session | None = None, *, region: str | None = None
) -> Any:
    """A boto3 client for ``service`` honouring ``settings.aws_region`` and ``settings.aws_endpoint_url``.

    ``region`` overrides the job's region for a resource that lives elsewhere (the DynamoDB auth table).
    """
    session = session or boto3.session.Session()
    kwargs: dict[str, Any] = {"region_name": region or settings.aws_region, "config": _RETRY_CONFIG}
    if settings.aws_endpoint_url:
        kwargs["endpoint_url"] = settings.aws_endpoint_url
    return session.client(service, **kwargs)

"""Public-read ACLs through a real run (issue 11.8): the real ``scripts/run_collection.sh`` on an S3 store in
moto with ``SPOTLAKE_PUBLIC_READ=1``, as the Terraform job definition sets it by default.

1. The objects the run puts with a public-read ACL are exactly the ones the stack's ``s3:PutObjectAcl`` grant
   covers (``public_object_arns`` in infrastructure/main.tf), so the deployed job is never refused an ACL it
   needs, and cannot make anything else public.
2. A bucket with ACLs disabled (Object Ownership "bucket owner enforced", the S3 default since April 2023)
   does not fail the run. moto 5.2.5 accepts ACLs on every bucket, so a small HTTP proxy on 127.0.0.1 in
   front of moto answers a PUT that carries ``x-amz-acl`` the way S3 does on such a bucket: 400
   ``AccessControlListNotSupported`` (docs.aws.amazon.com/AmazonS3/latest/userguide/about-object-ownership.html,
   observed 2026-12); everything else is forwarded unchanged.
"""

from __future__ import annotations

import http.client
import re
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import boto3
import pytest

from bench.local_server import serving
from bench.reliability.script_runner import run_script, script_env
from tests.infra.terraform_model import load_stack
from tests.scripts.support import write_tiny_catalog

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("moto_server")]

BUCKET, PREFIX, REGION = "spotlake-acl", "collector", "us-west-2"
ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers"
ACL_REFUSAL = (b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessControlListNotSupported</Code>'
               b"<Message>The bucket does not allow ACLs</Message></Error>")  # fmt: skip
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-connection"}


def s3(endpoint: str) -> Any:
    return boto3.client("s3", endpoint_url=endpoint, region_name=REGION, aws_access_key_id="testing",
                        aws_secret_access_key="testing")  # fmt: skip


@contextmanager
def acl_refusing_proxy(upstream: str) -> Iterator[tuple[str, list[str]]]:
    """Forward every request to ``upstream``; refuse object PUTs with an ACL header. Yields (url, refused keys)."""
    target = urlparse(upstream)
    refused: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _body(self) -> bytes:
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                chunks = []
                while (size := int(self.rfile.readline().split(b";")[0], 16)) > 0:
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()
                self.rfile.readline()
                return b"".join(chunks)
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def _forward(self) -> None:
            body = self._body()
            if self.command == "PUT" and self.headers.get("x-amz-acl"):
                refused.append(self.path)
                self._answer(400, {"Content-Type": "application/xml"}, ACL_REFUSAL)
                return
            headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
            headers["Content-Length"] = str(len(body))
            connection = http.client.HTTPConnection(target.hostname, target.port, timeout=60)
            try:
                connection.request(self.command, self.path, body=body, headers=headers)
                response = connection.getresponse()
                data = response.read()
                answer = {k: v for k, v in response.getheaders() if k.lower() not in _HOP_BY_HOP | {"content-length"}}
                self._answer(response.status, answer, data)
            finally:
                connection.close()

        def _answer(self, status: int, headers: dict[str, str], data: bytes) -> None:
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _forward

        def log_message(self, *args: object) -> None:
            return

    with serving(Handler) as url:
        yield url, refused


def run_on_s3(tmp_path: Path, endpoint: str) -> Any:
    env = script_env({
        "SPOTLAKE_STORE": f"s3://{BUCKET}/{PREFIX}",
        "SPOTLAKE_TIMESERIES": "parquet",
        "SPOTLAKE_METRICS": "none",
        "SPOTLAKE_PUBLIC_READ": "1",
        "SPOTLAKE_AZURE_EMULATOR": "1",
        "SPOTLAKE_EMULATOR_CATALOG": str(write_tiny_catalog(tmp_path)),
        "SPS_KEY_FILE": str(tmp_path / "sps_key.txt"),
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_REGION": REGION,
    })  # fmt: skip
    return run_script(env, "2025-12-13 13:00", cwd=tmp_path)


def stored_keys(endpoint: str) -> list[str]:
    pages = s3(endpoint).get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=f"{PREFIX}/")
    return sorted(item["Key"] for page in pages for item in page.get("Contents", []))


def is_public(endpoint: str, key: str) -> bool:
    grants = s3(endpoint).get_object_acl(Bucket=BUCKET, Key=key)["Grants"]
    return any(g["Grantee"].get("URI") == ALL_USERS and g["Permission"] == "READ" for g in grants)


def granted_by_the_stack(key: str) -> bool:
    """Whether the stack's PutObjectAcl resources (IAM wildcards ``*``/``?``) cover ``key``."""
    store_arn = f"arn:aws:s3:::{BUCKET}/{PREFIX}/"
    for arn in load_stack().locals["public_object_arns"]:
        pattern = arn.replace("${local.store_arn}", store_arn)
        regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
        if re.fullmatch(regex, f"arn:aws:s3:::{BUCKET}/{key}"):
            return True
    return False


def test_the_run_makes_public_exactly_the_keys_the_stack_lets_it(moto_endpoint: str, tmp_path: Path) -> None:
    s3(moto_endpoint).create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    run = run_on_s3(tmp_path, moto_endpoint)
    assert run.returncode == 0, run.stderr[-6000:]

    keys = stored_keys(moto_endpoint)
    public = {key for key in keys if is_public(moto_endpoint, key)}
    granted = {key for key in keys if granted_by_the_stack(key)}
    assert public == granted
    # The three public outputs of a merge are among them (the association file where that branch has landed).
    names = {key.removeprefix(f"{PREFIX}/") for key in public}
    assert {"latest_data/latest_azure.json", "query-selector/azure/query_selector.json",
            "rawdata/azure/2025/12/13/13-00-00.csv.gz"} <= names  # fmt: skip


def test_a_bucket_that_refuses_acls_does_not_fail_the_run(moto_endpoint: str, tmp_path: Path) -> None:
    s3(moto_endpoint).create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    with acl_refusing_proxy(moto_endpoint) as (proxy, refused):
        run = run_on_s3(tmp_path, proxy)
    assert run.returncode == 0, run.stderr[-6000:]
    assert refused, "the run never tried a public-read ACL"
    assert "does not allow ACLs" in run.stderr

    keys = stored_keys(moto_endpoint)
    names = {key.removeprefix(f"{PREFIX}/") for key in keys}
    assert {"latest_data/latest_azure.json", "rawdata/azure/2025/12/13/13-00-00.csv.gz"} <= names
    assert not [key for key in keys if is_public(moto_endpoint, key)]

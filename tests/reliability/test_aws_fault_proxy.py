"""The AWS fault proxy: real boto3 through the proxy to a real moto server; only the matching request is
faulted, with the error shape each service uses."""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest
import requests
from botocore.config import Config
from botocore.exceptions import ClientError, ConnectionClosedError, EndpointConnectionError

from bench.reliability.aws_fault_proxy import AwsFaultProxy, FaultRule, classify

REGION = "us-west-2"


@pytest.fixture(scope="module")
def proxy() -> Iterator[AwsFaultProxy]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        with AwsFaultProxy(f"http://{host}:{port}") as running:
            yield running
    finally:
        server.stop()


def client(service: str, proxy: AwsFaultProxy) -> object:
    return boto3.client(service, endpoint_url=proxy.url, region_name=REGION, aws_access_key_id="testing",
                        aws_secret_access_key="testing",
                        config=Config(retries={"mode": "standard", "max_attempts": 2}))  # fmt: skip


def test_requests_are_classified_by_signing_service_operation_and_key() -> None:
    auth = {"authorization": "AWS4-HMAC-SHA256 Credential=testing/20251213/us-west-2/s3/aws4_request, ..."}
    put = classify("PUT", "/bucket/collector/latest_data/azure/latest_state.parquet", auth)
    assert (put.service, put.operation) == ("s3", "PutObject")
    assert put.key == "collector/latest_data/azure/latest_state.parquet"
    assert classify("GET", "/bucket?list-type=2&prefix=x", auth).operation == "ListObjectsV2"
    target = {"authorization": auth["authorization"].replace("/s3/", "/timestream/"),
              "x-amz-target": "Timestream_20181101.WriteRecords"}  # fmt: skip
    assert classify("POST", "/", target).operation == "WriteRecords"


def test_only_the_matching_s3_put_fails_with_the_s3_error_and_others_reach_moto(proxy: AwsFaultProxy) -> None:
    s3 = client("s3", proxy)
    s3.create_bucket(Bucket="proxy-test", CreateBucketConfiguration={"LocationConstraint": REGION})
    proxy.set_rules([FaultRule("s3", "PutObject", key=r"state\.parquet$", status=403, code="AccessDenied")])
    s3.put_object(Bucket="proxy-test", Key="other.json", Body=b"{}")
    with pytest.raises(ClientError) as refused:
        s3.put_object(Bucket="proxy-test", Key="p/state.parquet", Body=b"x")
    assert refused.value.response["Error"]["Code"] == "AccessDenied"
    assert s3.get_object(Bucket="proxy-test", Key="other.json")["Body"].read() == b"{}"
    assert proxy.injected == 1


def test_a_recoverable_500_is_retried_by_botocore_and_succeeds(proxy: AwsFaultProxy) -> None:
    s3 = client("s3", proxy)
    s3.create_bucket(Bucket="proxy-retry", CreateBucketConfiguration={"LocationConstraint": REGION})
    proxy.set_rules([FaultRule("s3", "PutObject", calls=(1,))])
    s3.put_object(Bucket="proxy-retry", Key="k", Body=b"v")
    assert proxy.injected == 1
    assert s3.get_object(Bucket="proxy-retry", Key="k")["Body"].read() == b"v"


def test_a_dropped_connection_surfaces_as_a_connection_error(proxy: AwsFaultProxy) -> None:
    logs = client("logs", proxy)
    proxy.set_rules([FaultRule("logs", action="drop")])
    with pytest.raises((ConnectionClosedError, EndpointConnectionError)):
        logs.create_log_group(logGroupName="g")


def test_rejected_records_are_refused_with_reasons_while_the_rest_of_the_batch_is_written(
    proxy: AwsFaultProxy,
) -> None:
    ts = client("timestream-write", proxy)
    proxy.set_rules([])
    ts.create_database(DatabaseName="d")
    ts.create_table(DatabaseName="d", TableName="t")
    records = [{"Dimensions": [{"Name": "k", "Value": str(i)}], "MeasureName": "m", "MeasureValue": "1",
                "MeasureValueType": "DOUBLE", "Time": "1765630800000"} for i in range(3)]  # fmt: skip
    proxy.set_rules([FaultRule("timestream", "WriteRecords", status=419, code="RejectedRecordsException",
                               action="reject_records",
                               extra={"RejectedRecords": [{"RecordIndex": 0, "Reason": "too old"}]})])  # fmt: skip
    with pytest.raises(ClientError) as rejected:
        ts.write_records(DatabaseName="d", TableName="t", Records=records)
    assert rejected.value.response["Error"]["Code"] == "RejectedRecordsException"
    assert rejected.value.response["RejectedRecords"] == [{"RecordIndex": 0, "Reason": "too old"}]
    dump = requests.get(f"http://{proxy.upstream_host}:{proxy.upstream_port}/moto-api/data.json", timeout=30).json()
    written = [r for t in dump["timestreamwrite"]["TimestreamTable"] if t["name"] == "t" for r in t["records"]]
    assert sorted(r["Dimensions"][0]["Value"] for r in written) == ["1", "2"]

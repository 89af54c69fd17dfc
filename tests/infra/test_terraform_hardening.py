"""Issue 11.7/11.8/14 on the stack: the credential item's region, public-read ACLs on exactly the public keys,
a bucket prefix that cannot widen the job's S3 grant, IMDSv2 through a launch template, the lease TTL."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from tests.infra.terraform_model import Stack, load_stack
from tests.scripts.support import slot_objects
from utils import constants
from utils.constants import LATEST_JSON_KEY, QUERY_SELECTOR_KEY, archive_key

# The web client's dropdown file (issue 11.5); utils/constants.py gains the constant on another branch.
ASSOCIATION_KEY = getattr(constants, "ASSOCIATION_KEY", "query-selector/associated/association_azure.json")
SLOTS = [datetime(2025, 12, 13, 13, 0, tzinfo=UTC), datetime(2026, 1, 1, 0, 0, tzinfo=UTC),
         datetime(2026, 7, 31, 23, 50, tzinfo=UTC)]  # fmt: skip
# The objects of a run (tests/scripts/support.py slot_objects) that are public; all the others are private.
PUBLIC_RUN_OBJECTS = {LATEST_JSON_KEY, QUERY_SELECTOR_KEY, *(archive_key(slot) for slot in SLOTS)}


@pytest.fixture(scope="module")
def stack() -> Stack:
    return load_stack()


def iam_glob(pattern: str) -> re.Pattern[str]:
    """An IAM resource pattern as a regex: ``*`` any run of characters (``/`` included), ``?`` one character."""
    return re.compile("".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern) + r"\Z")


def public_patterns(stack: Stack, prefix: str = "collector/") -> list[re.Pattern[str]]:
    store_arn = f"arn:aws:s3:::spotlake/{prefix}"
    return [iam_glob(arn.replace("${local.store_arn}", store_arn)) for arn in stack.locals["public_object_arns"]]


def arn_of(key: str, prefix: str = "collector/") -> str:
    return f"arn:aws:s3:::spotlake/{prefix}{key}"


# ---------------------------------------------------------------- 11.7 the credential item


def test_the_documented_auth_item_is_spotlakes_production_item(stack: Stack):
    assert stack.variables["azure_auth_item"]["default"] == "login_auth_az_true"
    assert stack.variables["azure_auth_table"]["default"] == "AzureAuth"


def test_the_auth_region_defaults_to_the_stack_region_and_is_validated(stack: Stack):
    variable = stack.variables["azure_auth_region"]
    assert variable["default"] == ""
    [rule] = variable["validation"]
    [pattern] = re.findall(r'regex\("([^"]+)"', rule["condition"])
    assert all(re.fullmatch(pattern, ok) for ok in ("us-east-1", "ap-northeast-2", "us-gov-west-1"))
    assert not any(re.fullmatch(pattern, bad) for bad in ("us_east_1", "US-EAST-1", "*", "us-east-1a"))


# ---------------------------------------------------------------- 11.8 public-read ACLs


def test_public_read_is_on_by_default_and_reaches_the_job(stack: Stack):
    variable = stack.variables["public_read"]
    assert (variable["type"], variable["default"]) == ("bool", True)
    text = stack.resource("aws_batch_job_definition", "collector")["container_properties"]
    assert '{name = "SPOTLAKE_PUBLIC_READ", value = var.public_read ? "1" : "0"}' in text


def test_put_object_acl_is_granted_only_with_public_read_and_only_on_the_public_keys(stack: Stack):
    document = stack.data["aws_iam_policy_document"]["job_public_read"]
    assert document["count"] == "${var.public_read ? 1 : 0}"
    [statement] = document["statement"]
    assert statement["actions"] == ["s3:PutObjectAcl"]
    assert statement["resources"] == "${local.public_object_arns}"
    policy = stack.resource("aws_iam_role_policy", "job_public_read")
    assert policy["count"] == "${var.public_read ? 1 : 0}"
    assert policy["role"] == "${aws_iam_role.job.id}"
    # No other statement of the job grants an ACL action.
    others = [s for name, doc in stack.data["aws_iam_policy_document"].items() if name != "job_public_read"
              for s in doc["statement"]]  # fmt: skip
    assert not [s for s in others if any("Acl" in action for action in s["actions"])]


@pytest.mark.parametrize("prefix", ["collector/", ""], ids=["prefix", "bucket-root"])
def test_every_public_key_the_collector_writes_is_covered(stack: Stack, prefix: str):
    patterns = public_patterns(stack, prefix)
    public = [*PUBLIC_RUN_OBJECTS, ASSOCIATION_KEY, "reports/azure/2026/01/monthly.html"]
    uncovered = [key for key in public if not any(p.match(arn_of(key, prefix)) for p in patterns)]
    assert uncovered == []


@pytest.mark.parametrize("prefix", ["collector/", ""], ids=["prefix", "bucket-root"])
def test_no_private_key_can_be_made_public(stack: Stack, prefix: str):
    patterns = public_patterns(stack, prefix)
    private = [key for slot in SLOTS for key in slot_objects(slot) if key not in PUBLIC_RUN_OBJECTS]
    private += ["locks/run.json", "latest_data/azure/last_merge_summary.json", "timeseries/azure/part.parquet",
                "rawdata/azure/2025/12/13/13-00-00.csv.gz.tmp", "rawdata/azure/2025/12/13/x13-00-00.csv.gz"]
    exposed = [key for key in private if any(p.match(arn_of(key, prefix)) for p in patterns)]
    assert exposed == []
    # With a prefix, the same key outside the prefix is not covered either.
    if prefix:
        assert not any(p.match(arn_of(LATEST_JSON_KEY, "")) for p in patterns)


# ---------------------------------------------------------------- 14 bucket prefix


def test_bucket_prefix_defaults_to_collector_not_the_whole_bucket(stack: Stack):
    assert stack.variables["bucket_prefix"]["default"] == "collector"


def prefix_accepted(stack: Stack, value: str) -> bool:
    """Evaluate bucket_prefix's validation condition: `value == "" || (can(regex(A)) && !can(regex(B)))`."""
    condition = stack.variables["bucket_prefix"]["validation"][0]["condition"]
    allowed, forbidden = (p.replace("\\\\", "\\") for p in re.findall(r'regex\("((?:[^"\\]|\\.)+)"', condition))
    assert condition.startswith('${var.bucket_prefix == "" || (can(regex(') and "&& !can(regex(" in condition
    return value == "" or (re.search(allowed, value) is not None and re.search(forbidden, value) is None)


@pytest.mark.parametrize("value", ["collector", "spotlake/azure", "a.b/c_d-e", "team(1)/x", ""])
def test_bucket_prefix_accepts_plain_paths_and_an_explicit_bucket_root(stack: Stack, value: str):
    assert prefix_accepted(stack, value)


@pytest.mark.parametrize(
    "value", ["*", "collector*", "col?ector", "a/*", "/collector", "collector/", "a//b", "..", "a/../b", "./a",
              "${aws:username}", "a b", "a\nb"],
)  # fmt: skip
def test_bucket_prefix_refuses_wildcards_traversal_and_stray_slashes(stack: Stack, value: str):
    assert not prefix_accepted(stack, value)


# ---------------------------------------------------------------- 14 IMDSv2


def test_batch_instances_require_imdsv2_through_a_launch_template(stack: Stack):
    template = stack.resource("aws_launch_template", "batch")
    [metadata] = template["metadata_options"]
    assert metadata["http_tokens"] == "required"
    assert metadata["http_endpoint"] == "enabled"
    # One hop more than the host: the job's container reaches IMDSv2, nothing further does.
    assert metadata["http_put_response_hop_limit"] == 2
    [resources] = stack.resource("aws_batch_compute_environment", "spot")["compute_resources"]
    assert resources["launch_template"] == [{
        "launch_template_id": "${aws_launch_template.batch.id}",
        "version": "${aws_launch_template.batch.latest_version}",
    }]  # fmt: skip


# ---------------------------------------------------------------- 14.1 lease lifetime follows the job timeout


def test_the_lease_ttl_follows_the_job_timeout(stack: Stack):
    text = stack.resource("aws_batch_job_definition", "collector")["container_properties"]
    assert '{name = "SPOTLAKE_LEASE_TTL", value = tostring(var.job_timeout_seconds + 30)}' in text
    # At the longest allowed timeout the lease still expires within about one period of the schedule.
    high = int(re.search(r"<=\s*(\d+)", stack.variables["job_timeout_seconds"]["validation"][0]["condition"])[1])
    assert high + 30 <= 630

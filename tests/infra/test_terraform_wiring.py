"""The Terraform stack is wired as the issue asks: Spot Batch, retry/timeout, Scheduler trigger, IAM scope."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from tests.infra.terraform_model import Stack, hcl_assignments, load_stack


@pytest.fixture(scope="module")
def stack() -> Stack:
    return load_stack()


def all_policy_statements(stack: Stack) -> list[tuple[str, dict[str, Any]]]:
    return [
        (name, statement)
        for name, doc in stack.data["aws_iam_policy_document"].items()
        for statement in doc["statement"]
    ]


# ---------------------------------------------------------------- versions and variables


def test_terraform_and_provider_versions_are_pinned(stack: Stack):
    [block] = stack.terraform
    assert block["required_version"] == ">= 1.6.0"
    aws = block["required_providers"][0]["aws"]
    assert aws["source"] == "hashicorp/aws"
    assert re.fullmatch(r"~> [56]\.\d+", aws["version"])


def test_every_variable_has_a_description_and_a_type(stack: Stack):
    for name, variable in stack.variables.items():
        assert variable.get("description"), name
        assert variable.get("type"), name


@pytest.mark.parametrize(
    "name",
    [
        "region", "vpc_id", "subnet_ids", "security_group_ids", "image_uri", "bucket_name", "bucket_prefix",
        "timestream_database", "timestream_table", "metrics_log_group", "metrics_log_stream", "azure_auth_table",
        "azure_auth_item", "azure_auth_region", "slack_webhook_parameter_name", "slack_webhook_url", "vcpu",
        "memory", "instance_types", "max_vcpus", "job_timeout_seconds", "schedule_expression",
    ],
)  # fmt: skip
def test_the_required_inputs_exist_with_a_validation_block(stack: Stack, name: str):
    assert name in stack.variables
    assert stack.variables[name].get("validation"), f"{name} has no validation"


def test_inputs_without_a_safe_default_are_required(stack: Stack):
    required = {name for name, v in stack.variables.items() if "default" not in v}
    assert required == {"vpc_id", "subnet_ids", "security_group_ids", "image_uri"}


def test_the_slack_webhook_variable_is_sensitive_and_optional(stack: Stack):
    webhook = stack.variables["slack_webhook_url"]
    assert webhook["sensitive"] is True
    assert webhook["default"] is None


def test_the_job_timeout_defaults_to_540_and_is_validated_below_the_10_minute_period(stack: Stack):
    variable = stack.variables["job_timeout_seconds"]
    assert variable["default"] == 540
    condition = variable["validation"][0]["condition"]
    low = int(re.search(r">=\s*(\d+)", condition).group(1))
    high = int(re.search(r"<=\s*(\d+)", condition).group(1))
    assert (low, high) == (60, 590)


def test_default_instance_types_are_all_graviton(stack: Stack):
    defaults = stack.variables["instance_types"]["default"]
    assert defaults
    assert all(re.match(r"^[a-z]+[0-9]+g[a-z-]*\.", t) for t in defaults)


# ---------------------------------------------------------------- Batch


def test_compute_environment_is_managed_spot_with_price_capacity_optimized_and_scales_to_zero(stack: Stack):
    ce = stack.resource("aws_batch_compute_environment", "spot")
    assert ce["type"] == "MANAGED"
    [resources] = ce["compute_resources"]
    assert resources["type"] == "SPOT"
    assert resources["allocation_strategy"] == "SPOT_PRICE_CAPACITY_OPTIMIZED"
    assert resources["min_vcpus"] == 0
    assert resources["max_vcpus"] == "${var.max_vcpus}"
    assert resources["instance_type"] == "${var.instance_types}"
    assert resources["subnets"] == "${var.subnet_ids}"
    assert resources["security_group_ids"] == "${var.security_group_ids}"
    assert resources["instance_role"] == "${aws_iam_instance_profile.ecs_instance.arn}"
    assert "desired_vcpus" not in resources
    assert ce["service_role"] == "${aws_iam_role.batch_service.arn}"


def test_job_queue_feeds_the_spot_compute_environment(stack: Stack):
    queue = stack.resource("aws_batch_job_queue", "collector")
    assert queue["state"] == "ENABLED"
    assert queue["compute_environment_order"][0]["compute_environment"] == ("${aws_batch_compute_environment.spot.arn}")


def test_job_definition_retries_host_ec2_reclamation_and_exits_on_anything_else(stack: Stack):
    job = stack.resource("aws_batch_job_definition", "collector")
    [retry] = job["retry_strategy"]
    assert retry["attempts"] == 3
    assert retry["evaluate_on_exit"] == [
        {"on_status_reason": "Host EC2*", "action": "RETRY"},
        {"on_reason": "*", "action": "EXIT"},
    ]


def test_job_definition_times_out_attempts_from_the_variable(stack: Stack):
    job = stack.resource("aws_batch_job_definition", "collector")
    assert job["timeout"] == [{"attempt_duration_seconds": "${var.job_timeout_seconds}"}]


def test_job_definition_passes_the_scheduled_time_parameter_as_the_command(stack: Stack):
    job = stack.resource("aws_batch_job_definition", "collector")
    assert job["type"] == "container"
    assert job["platform_capabilities"] == ["EC2"]
    assert "scheduled_time" in job["parameters"]
    props = job["container_properties"]
    assert 'command = ["Ref::scheduled_time"]' in props


def test_job_container_gets_image_resources_role_and_awslogs_from_the_stack(stack: Stack):
    props = hcl_assignments(stack.resource("aws_batch_job_definition", "collector")["container_properties"])
    assert props["image"] == "var.image_uri"
    assert props["jobRoleArn"] == "aws_iam_role.job.arn"
    assert props["logDriver"] == '"awslogs"'
    assert props["awslogs-group"] == "aws_cloudwatch_log_group.job.name"
    assert props["privileged"] == "false"
    text = stack.resource("aws_batch_job_definition", "collector")["container_properties"]
    assert '{type = "VCPU", value = tostring(var.vcpu)}' in text
    assert '{type = "MEMORY", value = tostring(var.memory)}' in text


def test_job_environment_points_the_collector_at_the_deployed_stores(stack: Stack):
    text = stack.resource("aws_batch_job_definition", "collector")["container_properties"]
    env = dict(re.findall(r'\{name = "([A-Z_]+)", value = ([^}]+)\}', text))
    assert env == {
        "SPOTLAKE_STORE": "local.store_uri",
        "SPOTLAKE_TIMESERIES": "local.timeseries_uri",
        "SPOTLAKE_METRICS": "local.metrics_uri",
        "SPOTLAKE_AZURE_EMULATOR": '"0"',
        "AZURE_AUTH_TABLE": "var.azure_auth_table",
        "AZURE_AUTH_ITEM": "var.azure_auth_item",
        "AZURE_AUTH_REGION": "local.auth_region",
        "SPOTLAKE_PUBLIC_READ": 'var.public_read ? "1" : "0"',
        "SPOTLAKE_LEASE_TTL": "tostring(var.job_timeout_seconds + 30)",
        "SPOTLAKE_SLACK_SSM_PARAMETER": "var.slack_webhook_parameter_name",
        "AWS_REGION": "var.region",
        "AWS_DEFAULT_REGION": "var.region",
    }
    assert "s3://${var.bucket_name}/${var.bucket_prefix}" in stack.locals["store_uri"]
    assert "timestream://${var.timestream_database}/${var.timestream_table}" in stack.locals["timeseries_uri"]
    assert stack.locals["metrics_uri"] == "cloudwatch://${var.metrics_log_group}/${var.metrics_log_stream}"


def test_job_log_group_has_a_retention(stack: Stack):
    group = stack.resource("aws_cloudwatch_log_group", "job")
    assert group["retention_in_days"] == "${var.log_retention_days}"
    assert stack.variables["log_retention_days"]["default"] >= 1


def test_no_credentials_are_passed_in_the_job_environment(stack: Stack):
    text = stack.resource("aws_batch_job_definition", "collector")["container_properties"]
    names = re.findall(r'\{name = "([A-Za-z_]+)"', text)
    assert names
    assert not [n for n in names if re.search(r"SECRET|PASSWORD|TOKEN|ACCESS_KEY|CLIENT_ID", n)]
    assert "slack_webhook_url" not in text  # only the parameter name reaches the job
    assert "secrets" not in text


# ---------------------------------------------------------------- Scheduler


def test_schedule_fires_every_10_minutes_in_utc_without_a_flexible_window(stack: Stack):
    schedule = stack.resource("aws_scheduler_schedule", "collector")
    assert stack.variables["schedule_expression"]["default"] in ("rate(10 minutes)", "cron(0/10 * * * ? *)")
    assert schedule["schedule_expression"] == "${var.schedule_expression}"
    assert schedule["schedule_expression_timezone"] == "UTC"
    assert schedule["flexible_time_window"] == [{"mode": "OFF"}]


def test_schedule_submits_the_batch_job_through_the_universal_target(stack: Stack):
    [target] = stack.resource("aws_scheduler_schedule", "collector")["target"]
    assert target["arn"] == "arn:aws:scheduler:::aws-sdk:batch:submitJob"
    assert target["role_arn"] == "${aws_iam_role.scheduler.arn}"
    submit = hcl_assignments(target["input"])
    assert target["input"].startswith("${jsonencode(")
    assert submit["JobQueue"] == "aws_batch_job_queue.collector.arn"
    assert submit["JobDefinition"] == "aws_batch_job_definition.collector.arn"
    assert "JobName" in submit
    assert submit["scheduled_time"] == '"<aws.scheduler.scheduled-time>"'
    assert "Parameters = {scheduled_time" in target["input"]


def test_schedule_retries_briefly_and_dead_letters_to_an_encrypted_standard_queue(stack: Stack):
    [target] = stack.resource("aws_scheduler_schedule", "collector")["target"]
    [retry] = target["retry_policy"]
    assert 60 <= retry["maximum_event_age_in_seconds"] < 600
    assert 0 <= retry["maximum_retry_attempts"] <= 3
    assert target["dead_letter_config"] == [{"arn": "${aws_sqs_queue.schedule_dlq.arn}"}]
    dlq = stack.resource("aws_sqs_queue", "schedule_dlq")
    assert dlq["sqs_managed_sse_enabled"] is True
    assert not dlq.get("fifo_queue")


# ---------------------------------------------------------------- IAM


def test_no_policy_statement_allows_a_wildcard_action(stack: Stack):
    for name, statement in all_policy_statements(stack):
        for action in statement["actions"]:
            assert "*" not in action, f"{name}: {action}"
        assert "not_actions" not in statement, name


def test_only_timestream_describe_endpoints_uses_a_wildcard_resource(stack: Stack):
    wildcard = [
        (name, statement["actions"])
        for name, statement in all_policy_statements(stack)
        if "*" in statement.get("resources", [])
    ]
    assert wildcard == [("job_timestream", ["timestream:DescribeEndpoints"])]


def test_job_role_s3_access_is_limited_to_the_bucket_prefix(stack: Stack):
    statements = {s["sid"]: s for s in stack.policy_statements("job")}
    listing = statements["StoreList"]
    assert listing["actions"] == ["s3:ListBucket"]
    assert listing["resources"] == ["arn:${local.partition}:s3:::${var.bucket_name}"]
    assert listing["condition"] == [
        {"test": "StringLike", "variable": "s3:prefix", "values": ["${local.object_prefix}*"]}
    ]
    objects = statements["StoreObjects"]
    assert sorted(objects["actions"]) == ["s3:DeleteObject", "s3:GetObject", "s3:PutObject"]
    assert objects["resources"] == ["${local.store_arn}*"]
    assert stack.locals["store_arn"] == "arn:${local.partition}:s3:::${var.bucket_name}/${local.object_prefix}"
    assert stack.locals["object_prefix"] == '${var.bucket_prefix == "" ? "" : "${var.bucket_prefix}/"}'


def test_job_role_writes_only_the_timestream_table(stack: Stack):
    statements = {s["sid"]: s for s in stack.policy_statements("job_timestream")}
    assert statements["TimeseriesWrite"]["actions"] == ["timestream:WriteRecords", "timestream:DescribeTable"]
    assert statements["TimeseriesDescribeDatabase"]["actions"] == ["timestream:DescribeDatabase"]
    assert statements["TimeseriesDescribeDatabase"]["resources"] == [
        "arn:${local.partition}:timestream:${var.region}:${local.account_id}:database/${var.timestream_database}"
    ]
    assert statements["TimeseriesWrite"]["resources"] == [
        "arn:${local.partition}:timestream:${var.region}:${local.account_id}:database/"
        "${var.timestream_database}/table/${var.timestream_table}"
    ]


def test_job_role_logs_dynamodb_and_ssm_access_is_scoped_to_one_resource_each(stack: Stack):
    statements = {s["sid"]: s for s in stack.policy_statements("job")}
    logs = statements["MetricsLog"]
    assert sorted(logs["actions"]) == [
        "logs:CreateLogGroup", "logs:CreateLogStream", "logs:DescribeLogStreams", "logs:GetLogEvents",
        "logs:PutLogEvents",
    ]  # fmt: skip
    assert all(":log-group:${var.metrics_log_group}" in arn for arn in logs["resources"])
    auth = statements["AzureAuthRead"]
    assert auth["actions"] == ["dynamodb:GetItem"]
    assert auth["resources"] == [
        "arn:${local.partition}:dynamodb:${local.auth_region}:${local.account_id}:table/${var.azure_auth_table}"
    ]
    assert stack.locals["auth_region"] == '${var.azure_auth_region == "" ? var.region : var.azure_auth_region}'
    webhook = statements["WebhookRead"]
    assert webhook["actions"] == ["ssm:GetParameter"]
    assert webhook["resources"] == ["${local.webhook_parameter_arn}"]
    assert ":parameter/${trimprefix(var.slack_webhook_parameter_name" in stack.locals["webhook_parameter_arn"]


def test_job_role_is_assumed_by_ecs_tasks_and_carries_both_policies(stack: Stack):
    [assume] = stack.policy_statements("ecs_tasks_assume")
    assert assume["principals"] == [{"type": "Service", "identifiers": ["ecs-tasks.amazonaws.com"]}]
    assert stack.resource("aws_iam_role_policy", "job")["role"] == "${aws_iam_role.job.id}"
    assert stack.resource("aws_iam_role_policy", "job_timestream")["role"] == "${aws_iam_role.job.id}"


def test_scheduler_role_may_only_submit_to_the_queue_and_definition_and_send_dead_letters(stack: Stack):
    [assume] = stack.policy_statements("scheduler_assume")
    assert assume["principals"] == [{"type": "Service", "identifiers": ["scheduler.amazonaws.com"]}]
    statements = {s["sid"]: s for s in stack.policy_statements("scheduler")}
    assert set(statements) == {"SubmitCollectorJob", "DeadLetter"}
    submit = statements["SubmitCollectorJob"]
    assert submit["actions"] == ["batch:SubmitJob"]
    assert submit["resources"][0] == "${aws_batch_job_queue.collector.arn}"
    assert submit["resources"][1].endswith(":job-definition/${local.job_definition_name}:*")
    assert statements["DeadLetter"]["actions"] == ["sqs:SendMessage"]
    assert statements["DeadLetter"]["resources"] == ["${aws_sqs_queue.schedule_dlq.arn}"]


def test_batch_service_and_instance_roles_use_the_aws_managed_policies_batch_needs(stack: Stack):
    attachments = stack.resources["aws_iam_role_policy_attachment"]
    assert attachments["batch_service"]["policy_arn"].endswith("service-role/AWSBatchServiceRole")
    assert attachments["ecs_instance"]["policy_arn"].endswith("service-role/AmazonEC2ContainerServiceforEC2Role")
    profile = stack.resource("aws_iam_instance_profile", "ecs_instance")
    assert profile["role"] == "${aws_iam_role.ecs_instance.name}"


# ---------------------------------------------------------------- failure notification


NOTIFY_RESOURCES = [
    ("aws_lambda_function", "notify"),
    ("aws_cloudwatch_event_rule", "job_failed"),
    ("aws_cloudwatch_event_target", "job_failed"),
    ("aws_lambda_permission", "job_failed"),
    ("aws_iam_role", "notify"),
    ("aws_iam_role_policy", "notify"),
    ("aws_cloudwatch_log_group", "notify"),
]


@pytest.mark.parametrize(("kind", "name"), NOTIFY_RESOURCES)
def test_failure_notifier_resources_exist_only_when_notification_is_enabled(stack: Stack, kind: str, name: str):
    assert stack.resource(kind, name)["count"] == "${local.notify_enabled ? 1 : 0}"
    assert "var.enable_failure_notification" in stack.locals["notify_enabled"]
    assert "var.slack_webhook_url != null" in stack.locals["notify_enabled"]


def test_failure_rule_matches_failed_jobs_of_this_queue_only(stack: Stack):
    pattern = stack.resource("aws_cloudwatch_event_rule", "job_failed")["event_pattern"]
    assert 'source = ["aws.batch"]' in pattern
    assert '"detail-type" = ["Batch Job State Change"]' in pattern
    assert 'status = ["FAILED"]' in pattern
    assert "jobQueue = [aws_batch_job_queue.collector.arn]" in pattern


def test_notifier_reads_the_webhook_from_ssm_by_name_and_is_zipped_from_the_repo(stack: Stack):
    function = stack.resource("aws_lambda_function", "notify")
    assert function["runtime"].startswith("python3.")
    assert function["environment"][0]["variables"] == {"WEBHOOK_PARAMETER": "${var.slack_webhook_parameter_name}"}
    archive = stack.data["archive_file"]["notify"]
    assert archive["source_file"] == "${path.module}/notify/handler.py"
    statements = {s["sid"]: s for s in stack.policy_statements("notify")}
    assert statements["WebhookRead"]["resources"] == ["${local.webhook_parameter_arn}"]


def test_the_webhook_parameter_terraform_may_create_is_a_secure_string(stack: Stack):
    parameter = stack.resource("aws_ssm_parameter", "slack_webhook")
    assert parameter["type"] == "SecureString"
    assert parameter["count"] == "${nonsensitive(var.slack_webhook_url != null) ? 1 : 0}"


# ---------------------------------------------------------------- outputs and hygiene


def test_outputs_name_the_queue_job_definition_and_schedule(stack: Stack):
    for name in ("job_queue_name", "job_queue_arn", "job_definition_name", "job_definition_arn",
                 "schedule_name", "schedule_arn"):  # fmt: skip
        assert stack.outputs[name]["description"], name


def test_every_checkov_skip_carries_a_written_reason(stack: Stack):
    skips = [line.strip() for text in stack.files.values() for line in text.splitlines() if "checkov:skip" in line]
    assert skips
    for skip in skips:
        match = re.fullmatch(r"# checkov:skip=(CKV2?_AWS_\d+): (.+)", skip)
        assert match and len(match.group(2)) > 30, skip


def test_stack_parses_to_json_serialisable_blocks(stack: Stack):
    text = json.dumps([stack.resources, stack.data, stack.variables, stack.outputs])
    assert "aws_batch_job_definition" in text and "aws_scheduler_schedule" in text

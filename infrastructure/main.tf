# AWS Batch on EC2 Spot: compute environment (scales to zero), job queue and the collector's job definition.

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition

  # Keys the job may touch: "prefix/" (default "collector/"), or the whole bucket when bucket_prefix = "".
  object_prefix  = var.bucket_prefix == "" ? "" : "${var.bucket_prefix}/"
  store_arn      = "arn:${local.partition}:s3:::${var.bucket_name}/${local.object_prefix}"
  store_uri      = var.bucket_prefix == "" ? "s3://${var.bucket_name}" : "s3://${var.bucket_name}/${var.bucket_prefix}"
  use_timestream = var.timestream_database != ""
  timeseries_uri = local.use_timestream ? "timestream://${var.timestream_database}/${var.timestream_table}" : "parquet"
  metrics_uri    = "cloudwatch://${var.metrics_log_group}/${var.metrics_log_stream}"

  # The public objects (keys of utils/constants.py), the only ones the job may put with an ACL. IAM matches
  # "?" as one character and "*" as any run of characters including "/" (docs.aws.amazon.com/IAM/latest/
  # UserGuide/reference_policies_elements_resource.html, observed 2026-12): the archive pattern is spelled out
  # so that it cannot cover the monitoring CSV.gz files under rawdata/azure/monitoring/.
  public_object_arns = [
    "${local.store_arn}latest_data/latest_azure.json",
    "${local.store_arn}rawdata/azure/????/??/??/??-??-??.csv.gz",
    "${local.store_arn}query-selector/azure/query_selector.json",
    "${local.store_arn}query-selector/associated/association_azure.json",
    "${local.store_arn}reports/azure/*",
  ]

  # The Azure credential item's table may live in another region (SpotLake's AzureAuth: us-east-1).
  auth_region = var.azure_auth_region == "" ? var.region : var.azure_auth_region

  # SSM parameter ARNs never repeat the leading slash of a hierarchical name.
  webhook_parameter_arn = "arn:${local.partition}:ssm:${var.region}:${local.account_id}:parameter/${trimprefix(var.slack_webhook_parameter_name, "/")}"
  notify_enabled        = var.enable_failure_notification || nonsensitive(var.slack_webhook_url != null)

  job_log_group_name  = "/aws/batch/${var.name_prefix}-collector"
  job_definition_name = "${var.name_prefix}-collector"
}

resource "aws_cloudwatch_log_group" "job" {
  # checkov:skip=CKV_AWS_158: job logs carry no secrets (the collector redacts them); the default AWS-owned encryption at rest is enough and a CMK adds a key policy to manage.
  name              = local.job_log_group_name
  retention_in_days = var.log_retention_days
}

# Instances of the compute environment answer instance metadata only with an IMDSv2 session token. Hop limit 2:
# the job's container (bridge network on EC2) is one hop further than the host; the collector itself reads
# the instance type through IMDSv2 (scripts/store_monitoring.py).
resource "aws_launch_template" "batch" {
  # checkov:skip=CKV_AWS_341: hop limit 2 lets the job's container (one hop past the host) reach IMDSv2; AL2023 AMIs default to exactly this (docs.aws.amazon.com/linux/al2023/ug/imdsv2.html, observed 2026-12). Tokens stay required.
  name        = "${var.name_prefix}-batch"
  description = "SpotLake Azure collector Batch instances: IMDSv2 required"

  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 2
    instance_metadata_tags      = "disabled"
  }
}

resource "aws_batch_compute_environment" "spot" {
  compute_environment_name = "${var.name_prefix}-spot"
  type                     = "MANAGED"
  state                    = "ENABLED"
  service_role             = aws_iam_role.batch_service.arn

  compute_resources {
    type = "SPOT"
    # Weighs price and interruption risk; needs no Spot Fleet role (AWS's recommendation for Spot since 2023-08).
    allocation_strategy = "SPOT_PRICE_CAPACITY_OPTIMIZED"
    min_vcpus           = 0
    max_vcpus           = var.max_vcpus
    instance_type       = var.instance_types
    instance_role       = aws_iam_instance_profile.ecs_instance.arn
    subnets             = var.subnet_ids
    security_group_ids  = var.security_group_ids

    ec2_configuration {
      # ECS-optimized Amazon Linux 2023, published for both arm64 and x86_64.
      image_type = "ECS_AL2023"
    }

    # A numbered version, not "$Latest": Batch resolves the version when the environment is created or
    # updated, so a changed template reaches the instances through an update of this environment.
    launch_template {
      launch_template_id = aws_launch_template.batch.id
      version            = aws_launch_template.batch.latest_version
    }
  }

  depends_on = [aws_iam_role_policy_attachment.batch_service]
}

resource "aws_batch_job_queue" "collector" {
  name     = "${var.name_prefix}-queue"
  state    = "ENABLED"
  priority = 1

  compute_environment_order {
    order               = 1
    compute_environment = aws_batch_compute_environment.spot.arn
  }
}

resource "aws_batch_job_definition" "collector" {
  name                  = local.job_definition_name
  type                  = "container"
  platform_capabilities = ["EC2"]
  propagate_tags        = true

  # The scheduler passes Parameters.scheduled_time; a job submitted by hand without it gets "", which
  # run_collection.sh reads as "now, floored to the 10-minute slot".
  parameters = {
    scheduled_time = ""
  }

  container_properties = jsonencode({
    image      = var.image_uri
    command    = ["Ref::scheduled_time"]
    jobRoleArn = aws_iam_role.job.arn
    resourceRequirements = [
      { type = "VCPU", value = tostring(var.vcpu) },
      { type = "MEMORY", value = tostring(var.memory) },
    ]
    environment = [
      { name = "SPOTLAKE_STORE", value = local.store_uri },
      { name = "SPOTLAKE_TIMESERIES", value = local.timeseries_uri },
      { name = "SPOTLAKE_METRICS", value = local.metrics_uri },
      { name = "SPOTLAKE_AZURE_EMULATOR", value = "0" },
      { name = "AZURE_AUTH_TABLE", value = var.azure_auth_table },
      { name = "AZURE_AUTH_ITEM", value = var.azure_auth_item },
      { name = "AZURE_AUTH_REGION", value = local.auth_region },
      { name = "SPOTLAKE_PUBLIC_READ", value = var.public_read ? "1" : "0" },
      # A lease outlives a live attempt (timeout) plus the 30 s between SIGTERM and SIGKILL, never longer:
      # after that its holder is gone and the next slot or the retry may take it.
      { name = "SPOTLAKE_LEASE_TTL", value = tostring(var.job_timeout_seconds + 30) },
      # The name only: the collector reads the webhook itself from SSM at alert time.
      { name = "SPOTLAKE_SLACK_SSM_PARAMETER", value = var.slack_webhook_parameter_name },
      { name = "AWS_REGION", value = var.region },
      { name = "AWS_DEFAULT_REGION", value = var.region },
    ]
    privileged = false
    logConfiguration = {
      logDriver = "awslogs"
      options = {
        "awslogs-group"         = aws_cloudwatch_log_group.job.name
        "awslogs-region"        = var.region
        "awslogs-stream-prefix" = "collector"
      }
    }
  })

  retry_strategy {
    attempts = 3

    # Spot reclamation shows as statusReason "Host EC2 (instance i-...) terminated": run the slot again.
    evaluate_on_exit {
      on_status_reason = "Host EC2*"
      action           = "RETRY"
    }

    # Anything else (application exit 1/2, timeouts) is final; without this entry Batch retries everything.
    evaluate_on_exit {
      on_reason = "*"
      action    = "EXIT"
    }
  }

  timeout {
    attempt_duration_seconds = var.job_timeout_seconds
  }
}

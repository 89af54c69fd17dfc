# AWS Batch on EC2 Spot: compute environment (scales to zero), job queue and the collector's job definition.

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition

  # Keys the job may touch: "prefix/" or the whole bucket when no prefix is given.
  object_prefix  = var.bucket_prefix == "" ? "" : "${var.bucket_prefix}/"
  store_uri      = var.bucket_prefix == "" ? "s3://${var.bucket_name}" : "s3://${var.bucket_name}/${var.bucket_prefix}"
  use_timestream = var.timestream_database != ""
  timeseries_uri = local.use_timestream ? "timestream://${var.timestream_database}/${var.timestream_table}" : "parquet"
  metrics_uri    = "cloudwatch://${var.metrics_log_group}/${var.metrics_log_stream}"

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

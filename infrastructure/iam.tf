# IAM: Batch service role, ECS instance role/profile, the job role (least privilege on the store, the
# Timestream table, the metrics log group, the auth table and the webhook parameter) and the scheduler role.

# ---------------------------------------------------------------- Batch service role
data "aws_iam_policy_document" "batch_assume" {
  statement {
    sid     = "BatchAssume"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["batch.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "batch_service" {
  name               = "${var.name_prefix}-batch-service"
  assume_role_policy = data.aws_iam_policy_document.batch_assume.json
}

resource "aws_iam_role_policy_attachment" "batch_service" {
  role       = aws_iam_role.batch_service.name
  policy_arn = "arn:${local.partition}:iam::aws:policy/service-role/AWSBatchServiceRole"
}

# ---------------------------------------------------------------- ECS instance role (image pull, log shipping)
data "aws_iam_policy_document" "ec2_assume" {
  statement {
    sid     = "Ec2Assume"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["ec2.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "ecs_instance" {
  name               = "${var.name_prefix}-ecs-instance"
  assume_role_policy = data.aws_iam_policy_document.ec2_assume.json
}

resource "aws_iam_role_policy_attachment" "ecs_instance" {
  role       = aws_iam_role.ecs_instance.name
  policy_arn = "arn:${local.partition}:iam::aws:policy/service-role/AmazonEC2ContainerServiceforEC2Role"
}

resource "aws_iam_instance_profile" "ecs_instance" {
  name = "${var.name_prefix}-ecs-instance"
  role = aws_iam_role.ecs_instance.name
}

# ---------------------------------------------------------------- Job role (what the collector runs as)
data "aws_iam_policy_document" "ecs_tasks_assume" {
  statement {
    sid     = "EcsTasksAssume"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["ecs-tasks.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_iam_role" "job" {
  name               = "${var.name_prefix}-job"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
}

data "aws_iam_policy_document" "job" {
  statement {
    sid       = "StoreList"
    actions   = ["s3:ListBucket"]
    resources = ["arn:${local.partition}:s3:::${var.bucket_name}"]

    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${local.object_prefix}*"]
    }
  }

  statement {
    sid       = "StoreObjects"
    actions   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
    resources = ["${local.store_arn}*"]
  }

  statement {
    sid = "MetricsLog"
    actions = [
      "logs:CreateLogGroup",
      "logs:CreateLogStream",
      "logs:PutLogEvents",
      "logs:DescribeLogStreams",
      # The metrics sink reads the stream's latest events so a rerun of a slot does not put its line twice.
      "logs:GetLogEvents",
    ]
    resources = [
      "arn:${local.partition}:logs:${var.region}:${local.account_id}:log-group:${var.metrics_log_group}",
      "arn:${local.partition}:logs:${var.region}:${local.account_id}:log-group:${var.metrics_log_group}:*",
    ]
  }

  statement {
    sid       = "AzureAuthRead"
    actions   = ["dynamodb:GetItem"]
    resources = ["arn:${local.partition}:dynamodb:${local.auth_region}:${local.account_id}:table/${var.azure_auth_table}"]
  }

  statement {
    sid       = "WebhookRead"
    actions   = ["ssm:GetParameter"]
    resources = [local.webhook_parameter_arn]
  }
}

resource "aws_iam_role_policy" "job" {
  name   = "${var.name_prefix}-job"
  role   = aws_iam_role.job.id
  policy = data.aws_iam_policy_document.job.json
}

# Public-read ACLs only when public_read is on, and only on the public keys: PutObject with an ACL needs
# s3:PutObjectAcl as well (docs.aws.amazon.com/AmazonS3/latest/API/API_PutObject.html, observed 2026-12).
data "aws_iam_policy_document" "job_public_read" {
  count = var.public_read ? 1 : 0

  statement {
    sid       = "PublicObjectAcl"
    actions   = ["s3:PutObjectAcl"]
    resources = local.public_object_arns
  }
}

resource "aws_iam_role_policy" "job_public_read" {
  count = var.public_read ? 1 : 0

  name   = "${var.name_prefix}-job-public-read"
  role   = aws_iam_role.job.id
  policy = data.aws_iam_policy_document.job_public_read[0].json
}

# Timestream only when a database is configured (LiveAnalytics is closed to new accounts; without it the
# change records go to Parquet in the store and the job needs no Timestream permission at all).
data "aws_iam_policy_document" "job_timestream" {
  count = local.use_timestream ? 1 : 0

  statement {
    sid = "TimeseriesWrite"
    # DescribeTable lets the pre-publish check (utils/preflight.py) name a missing table before anything is
    # published.
    actions   = ["timestream:WriteRecords", "timestream:DescribeTable"]
    resources = ["arn:${local.partition}:timestream:${var.region}:${local.account_id}:database/${var.timestream_database}/table/${var.timestream_table}"]
  }

  statement {
    sid       = "TimeseriesDescribeDatabase"
    actions   = ["timestream:DescribeDatabase"]
    resources = ["arn:${local.partition}:timestream:${var.region}:${local.account_id}:database/${var.timestream_database}"]
  }

  # DescribeEndpoints has no resource-level permissions: "*" is its only valid resource. checkov 3.3.30 knows
  # this (CKV_AWS_356 passes), so no inline skip is needed.
  statement {
    sid       = "TimeseriesEndpointDiscovery"
    actions   = ["timestream:DescribeEndpoints"]
    resources = ["*"]
  }
}

resource "aws_iam_role_policy" "job_timestream" {
  count = local.use_timestream ? 1 : 0

  name   = "${var.name_prefix}-job-timestream"
  role   = aws_iam_role.job.id
  policy = data.aws_iam_policy_document.job_timestream[0].json
}

# ---------------------------------------------------------------- Scheduler execution role
data "aws_iam_policy_document" "scheduler_assume" {
  statement {
    sid     = "SchedulerAssume"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["scheduler.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_iam_role" "scheduler" {
  name               = "${var.name_prefix}-scheduler"
  assume_role_policy = data.aws_iam_policy_document.scheduler_assume.json
}

data "aws_iam_policy_document" "scheduler" {
  statement {
    sid     = "SubmitCollectorJob"
    actions = ["batch:SubmitJob"]
    # Every revision of the job definition, so a new revision needs no policy change.
    resources = [
      aws_batch_job_queue.collector.arn,
      "arn:${local.partition}:batch:${var.region}:${local.account_id}:job-definition/${local.job_definition_name}:*",
    ]
  }

  # Scheduler delivers dead letters with the schedule's execution role.
  statement {
    sid       = "DeadLetter"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.schedule_dlq.arn]
  }
}

resource "aws_iam_role_policy" "scheduler" {
  name   = "${var.name_prefix}-scheduler"
  role   = aws_iam_role.scheduler.id
  policy = data.aws_iam_policy_document.scheduler.json
}

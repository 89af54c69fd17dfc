# Optional failure notification: Batch "Job State Change" FAILED on this queue -> Lambda -> Slack.
# Created only when enable_failure_notification is true or slack_webhook_url is given.

resource "aws_ssm_parameter" "slack_webhook" {
  # checkov:skip=CKV_AWS_337: SecureString under the AWS managed aws/ssm key, which the job and notifier can decrypt without a key policy of ours.
  count = nonsensitive(var.slack_webhook_url != null) ? 1 : 0

  name        = var.slack_webhook_parameter_name
  description = "Slack webhook for SpotLake Azure collector failure alerts"
  type        = "SecureString"
  value       = var.slack_webhook_url
}

data "archive_file" "notify" {
  count = local.notify_enabled ? 1 : 0

  type        = "zip"
  source_file = "${path.module}/notify/handler.py"
  output_path = "${path.module}/.terraform/notify.zip"
}

data "aws_iam_policy_document" "lambda_assume" {
  statement {
    sid     = "LambdaAssume"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "notify" {
  count = local.notify_enabled ? 1 : 0

  name               = "${var.name_prefix}-notify"
  assume_role_policy = data.aws_iam_policy_document.lambda_assume.json
}

resource "aws_cloudwatch_log_group" "notify" {
  # checkov:skip=CKV_AWS_158: the notifier logs job ids and reasons only, never the webhook; AWS-owned encryption at rest is enough.
  count = local.notify_enabled ? 1 : 0

  name              = "/aws/lambda/${var.name_prefix}-notify"
  retention_in_days = var.log_retention_days
}

data "aws_iam_policy_document" "notify" {
  count = local.notify_enabled ? 1 : 0

  statement {
    sid       = "OwnLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.notify[0].arn}:*"]
  }

  statement {
    sid       = "WebhookRead"
    actions   = ["ssm:GetParameter"]
    resources = [local.webhook_parameter_arn]
  }
}

resource "aws_iam_role_policy" "notify" {
  count = local.notify_enabled ? 1 : 0

  name   = "${var.name_prefix}-notify"
  role   = aws_iam_role.notify[0].id
  policy = data.aws_iam_policy_document.notify[0].json
}

resource "aws_lambda_function" "notify" {
  # checkov:skip=CKV_AWS_116: invoked asynchronously by EventBridge, whose own retries cover transient failures; a lost alert does not lose data (the job's failure stays in Batch and its logs).
  # checkov:skip=CKV_AWS_117: it only calls SSM and Slack over the internet; a VPC would need a NAT gateway for no gain.
  # checkov:skip=CKV_AWS_272: the code is a single file zipped from this repository at apply time; code signing adds a signing profile for no gain.
  # checkov:skip=CKV_AWS_50: one HTTPS POST per failed job; X-Ray tracing adds nothing an operator would read.
  # checkov:skip=CKV_AWS_173: the environment holds only the SSM parameter name, never the webhook itself.
  count = local.notify_enabled ? 1 : 0

  function_name                  = "${var.name_prefix}-notify"
  role                           = aws_iam_role.notify[0].arn
  runtime                        = "python3.12"
  handler                        = "handler.lambda_handler"
  filename                       = data.archive_file.notify[0].output_path
  source_code_hash               = data.archive_file.notify[0].output_base64sha256
  timeout                        = 15
  memory_size                    = 128
  reserved_concurrent_executions = 2

  environment {
    variables = {
      WEBHOOK_PARAMETER = var.slack_webhook_parameter_name
    }
  }

  depends_on = [aws_cloudwatch_log_group.notify, aws_iam_role_policy.notify]
}

resource "aws_cloudwatch_event_rule" "job_failed" {
  count = local.notify_enabled ? 1 : 0

  name        = "${var.name_prefix}-job-failed"
  description = "SpotLake Azure collector job FAILED on its queue"

  event_pattern = jsonencode({
    source        = ["aws.batch"]
    "detail-type" = ["Batch Job State Change"]
    detail = {
      status   = ["FAILED"]
      jobQueue = [aws_batch_job_queue.collector.arn]
    }
  })
}

resource "aws_cloudwatch_event_target" "job_failed" {
  count = local.notify_enabled ? 1 : 0

  rule = aws_cloudwatch_event_rule.job_failed[0].name
  arn  = aws_lambda_function.notify[0].arn
}

resource "aws_lambda_permission" "job_failed" {
  count = local.notify_enabled ? 1 : 0

  statement_id  = "AllowEventBridgeJobFailed"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.notify[0].function_name
  principal     = "events.amazonaws.com"
  source_arn    = aws_cloudwatch_event_rule.job_failed[0].arn
}

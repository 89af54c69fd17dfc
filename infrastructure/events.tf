# The 10-minute trigger (EventBridge Scheduler; scheduled EventBridge rules are legacy) and its dead-letter queue.

resource "aws_sqs_queue" "schedule_dlq" {
  # Standard queue: Scheduler does not deliver dead letters to FIFO queues.
  name                      = "${var.name_prefix}-schedule-dlq"
  sqs_managed_sse_enabled   = true
  message_retention_seconds = 1209600
}

resource "aws_scheduler_schedule" "collector" {
  # checkov:skip=CKV_AWS_297: the schedule input holds only queue/definition ARNs and a time placeholder; AWS-owned encryption is enough and a CMK adds cost and a key policy.
  name                         = "${var.name_prefix}-collector"
  group_name                   = "default"
  schedule_expression          = var.schedule_expression
  schedule_expression_timezone = "UTC"
  state                        = var.schedule_enabled ? "ENABLED" : "DISABLED"

  # Exact slots: the job's timestamp is the nominal scheduled time, not the delivery time.
  flexible_time_window {
    mode = "OFF"
  }

  target {
    # Batch is not a templated target, so the universal aws-sdk target calls SubmitJob with this input.
    arn      = "arn:aws:scheduler:::aws-sdk:batch:submitJob"
    role_arn = aws_iam_role.scheduler.arn

    input = jsonencode({
      JobName       = "${var.name_prefix}-collector"
      JobQueue      = aws_batch_job_queue.collector.arn
      JobDefinition = aws_batch_job_definition.collector.arn
      # Scheduler replaces the placeholder at invocation time (e.g. 2025-12-13T13:00:00Z); retries of a slot
      # carry the same value, so a retried slot is the same slot.
      Parameters = {
        scheduled_time = "<aws.scheduler.scheduled-time>"
      }
    })

    # A slot older than 5 minutes is not worth submitting: the next slot is due soon.
    retry_policy {
      maximum_event_age_in_seconds = 300
      maximum_retry_attempts       = 2
    }

    dead_letter_config {
      arn = aws_sqs_queue.schedule_dlq.arn
    }
  }
}

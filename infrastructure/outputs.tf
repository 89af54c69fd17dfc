output "job_queue_name" {
  description = "Batch job queue of the collector."
  value       = aws_batch_job_queue.collector.name
}

output "job_queue_arn" {
  description = "ARN of the Batch job queue."
  value       = aws_batch_job_queue.collector.arn
}

output "job_definition_name" {
  description = "Batch job definition name (submit by hand: aws batch submit-job --job-definition NAME --job-queue QUEUE)."
  value       = aws_batch_job_definition.collector.name
}

output "job_definition_arn" {
  description = "ARN (with revision) of the Batch job definition."
  value       = aws_batch_job_definition.collector.arn
}

output "schedule_name" {
  description = "EventBridge Scheduler schedule that submits the job every slot."
  value       = aws_scheduler_schedule.collector.name
}

output "schedule_arn" {
  description = "ARN of the EventBridge Scheduler schedule."
  value       = aws_scheduler_schedule.collector.arn
}

output "schedule_dlq_url" {
  description = "SQS dead-letter queue of schedule invocations that could not submit the job."
  value       = aws_sqs_queue.schedule_dlq.url
}

output "job_log_group" {
  description = "CloudWatch Logs group of the job's stdout/stderr."
  value       = aws_cloudwatch_log_group.job.name
}

output "store_uri" {
  description = "SPOTLAKE_STORE given to the job."
  value       = local.store_uri
}

output "failure_notifier_function" {
  description = "Lambda that posts failed jobs to Slack, or null when notification is off."
  value       = local.notify_enabled ? aws_lambda_function.notify[0].function_name : null
}

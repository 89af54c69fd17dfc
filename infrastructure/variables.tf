# Inputs of the SpotLake Azure collector stack. Required: vpc_id, subnet_ids, security_group_ids, image_uri.

variable "region" {
  description = "AWS region for every resource of the stack (Batch, Scheduler, logs, SQS)."
  type        = string
  default     = "us-west-2"

  validation {
    condition     = can(regex("^[a-z]{2}(-gov)?-[a-z]+-[0-9]$", var.region))
    error_message = "region must be an AWS region code such as us-west-2."
  }
}

variable "name_prefix" {
  description = "Prefix of every resource name (Batch environment, queue, job definition, roles, schedule)."
  type        = string
  default     = "spotlake-azure"

  validation {
    condition     = can(regex("^[a-zA-Z][a-zA-Z0-9-]{1,31}$", var.name_prefix))
    error_message = "name_prefix must be 2-32 letters, digits or hyphens, starting with a letter."
  }
}

variable "tags" {
  description = "Extra tags added to every resource (merged with Project/Component)."
  type        = map(string)
  default     = {}
}

variable "vpc_id" {
  description = "VPC of the Batch compute environment (its subnets need outbound internet for the Azure APIs)."
  type        = string

  validation {
    condition     = can(regex("^vpc-[0-9a-f]{8,17}$", var.vpc_id))
    error_message = "vpc_id must look like vpc-0123456789abcdef0."
  }
}

variable "subnet_ids" {
  description = "Subnets (of vpc_id) where Spot instances are launched; several AZs widen the Spot pool."
  type        = list(string)

  validation {
    condition     = length(var.subnet_ids) > 0 && alltrue([for s in var.subnet_ids : can(regex("^subnet-[0-9a-f]{8,17}$", s))])
    error_message = "subnet_ids must be a non-empty list of subnet-... ids."
  }
}

variable "security_group_ids" {
  description = "Security groups of the Batch instances (egress to HTTPS is all the job needs)."
  type        = list(string)

  validation {
    condition     = length(var.security_group_ids) > 0 && alltrue([for g in var.security_group_ids : can(regex("^sg-[0-9a-f]{8,17}$", g))])
    error_message = "security_group_ids must be a non-empty list of sg-... ids."
  }
}

variable "image_uri" {
  description = "Container image of the collector (ECR URI with tag or digest, from scripts/build_and_push.sh)."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9.-]+(:[0-9]+)?/[a-z0-9._/-]+(:[A-Za-z0-9._-]{1,128}|@sha256:[0-9a-f]{64})$", var.image_uri))
    error_message = "image_uri must be REGISTRY/REPOSITORY:TAG or REGISTRY/REPOSITORY@sha256:DIGEST."
  }
}

variable "bucket_name" {
  description = "Existing S3 bucket of the SpotLake store (SPOTLAKE_STORE = s3://bucket_name/bucket_prefix)."
  type        = string
  default     = "spotlake"

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.bucket_name))
    error_message = "bucket_name must be a valid S3 bucket name (3-63 lowercase letters, digits, dots, hyphens)."
  }
}

variable "bucket_prefix" {
  description = "Key prefix inside the bucket for every object of the store; the job's S3 permissions cover only this prefix. \"\" (the whole bucket) only for a bucket the collector owns alone, e.g. a SpotLake drop-in that publishes at the bucket root."
  type        = string
  default     = "collector"

  # No "*" or "?" (IAM wildcards: the policy would cover more than the prefix), no "$" (IAM policy variables),
  # no "." or ".." segments, no empty segments.
  validation {
    condition     = var.bucket_prefix == "" || (can(regex("^[A-Za-z0-9!_.'()-]+(/[A-Za-z0-9!_.'()-]+)*$", var.bucket_prefix)) && !can(regex("(^|/)\\.{1,2}(/|$)", var.bucket_prefix)))
    error_message = "bucket_prefix must be path segments of letters, digits and ! _ . ' ( ) - without leading/trailing slashes, \".\" or \"..\" segments, or wildcards; \"\" means the whole bucket."
  }
}

variable "public_read" {
  description = "Publish the public objects (latest JSON, CSV.gz archive, query selectors, reports) with a public-read ACL, as SpotLake's CDN reads them: sets SPOTLAKE_PUBLIC_READ=1 and grants s3:PutObjectAcl on exactly those keys. A bucket with ACLs disabled still works (the objects are written without the ACL)."
  type        = bool
  default     = true
}

variable "timestream_database" {
  description = "Existing Timestream for LiveAnalytics database of the change records; empty writes them as Parquet in the store instead (LiveAnalytics is closed to new accounts)."
  type        = string
  default     = "spotlake"

  validation {
    condition     = var.timestream_database == "" || can(regex("^[a-zA-Z0-9_.-]{3,256}$", var.timestream_database))
    error_message = "timestream_database must be empty or 3-256 letters, digits, '_', '.', '-'."
  }
}

variable "timestream_table" {
  description = "Timestream table of the change records (used when timestream_database is set)."
  type        = string
  default     = "azure"

  validation {
    condition     = can(regex("^[a-zA-Z0-9_.-]{3,256}$", var.timestream_table))
    error_message = "timestream_table must be 3-256 letters, digits, '_', '.', '-'."
  }
}

variable "metrics_log_group" {
  description = "CloudWatch Logs group of the collection-count metrics (SpotLake's Collection-Data-Count)."
  type        = string
  default     = "Collection-Data-Count"

  validation {
    condition     = can(regex("^[\\.\\-_/#A-Za-z0-9]{1,512}$", var.metrics_log_group))
    error_message = "metrics_log_group must be a valid CloudWatch Logs group name."
  }
}

variable "metrics_log_stream" {
  description = "CloudWatch Logs stream of the collection-count metrics."
  type        = string
  default     = "Azure-Count"

  validation {
    condition     = can(regex("^[^:*]{1,512}$", var.metrics_log_stream))
    error_message = "metrics_log_stream must be 1-512 characters without ':' or '*'."
  }
}

variable "azure_auth_table" {
  description = "DynamoDB table holding the Azure service principal (SpotLake's AzureAuth)."
  type        = string
  default     = "AzureAuth"

  validation {
    condition     = can(regex("^[a-zA-Z0-9_.-]{3,255}$", var.azure_auth_table))
    error_message = "azure_auth_table must be a valid DynamoDB table name."
  }
}

variable "azure_auth_item" {
  description = "Value of the partition key id of the auth item to use (AZURE_AUTH_ITEM); SpotLake's production item is login_auth_az_true (one map attribute data with tenant_id, client_id, client_secret, subscriptions)."
  type        = string
  default     = "login_auth_az_true"

  validation {
    condition     = length(var.azure_auth_item) > 0 && length(var.azure_auth_item) <= 1024
    error_message = "azure_auth_item must be 1-1024 characters."
  }
}

variable "azure_auth_region" {
  description = "Region of the DynamoDB auth table (AZURE_AUTH_REGION); SpotLake's AzureAuth is in us-east-1. Empty: the stack's region."
  type        = string
  default     = ""

  validation {
    condition     = var.azure_auth_region == "" || can(regex("^[a-z]{2}(-gov)?-[a-z]+-[0-9]$", var.azure_auth_region))
    error_message = "azure_auth_region must be empty or an AWS region code such as us-east-1."
  }
}

variable "slack_webhook_parameter_name" {
  description = "SSM parameter (SecureString) holding the Slack webhook URL; the job gets its name as SPOTLAKE_SLACK_SSM_PARAMETER and the failure notifier reads it too."
  type        = string
  default     = "error_notification_slack_webhook_url"

  validation {
    condition     = can(regex("^/?[a-zA-Z0-9_.-]+(/[a-zA-Z0-9_.-]+)*$", var.slack_webhook_parameter_name))
    error_message = "slack_webhook_parameter_name must be a valid SSM parameter name."
  }
}

variable "enable_failure_notification" {
  description = "Create the Batch FAILED -> Slack notifier, reading the webhook from slack_webhook_parameter_name (the parameter must exist; scripts/deploy_infra.sh -w stores it)."
  type        = bool
  default     = false
}

variable "slack_webhook_url" {
  description = "Optional Slack webhook URL. When set, Terraform stores it in the SSM parameter and enables the failure notifier. The value then lands in the Terraform state: prefer deploy_infra.sh -w, which writes SSM itself."
  type        = string
  default     = null
  sensitive   = true

  validation {
    condition     = var.slack_webhook_url == null || can(regex("^https://", var.slack_webhook_url))
    error_message = "slack_webhook_url must be an https:// URL."
  }
}

variable "vcpu" {
  description = "vCPUs reserved for one collection job."
  type        = number
  default     = 2

  validation {
    condition     = var.vcpu >= 1 && var.vcpu <= 16 && floor(var.vcpu) == var.vcpu
    error_message = "vcpu must be a whole number between 1 and 16 (EC2 compute environments)."
  }
}

variable "memory" {
  description = "Memory (MiB) reserved for one collection job; leave room for the ECS agent on the instance."
  type        = number
  default     = 3072

  validation {
    condition     = var.memory >= 512 && var.memory <= 65536 && floor(var.memory) == var.memory
    error_message = "memory must be a whole number of MiB between 512 and 65536."
  }
}

variable "instance_types" {
  description = "Spot instance types of the compute environment, all of one architecture (Graviton arm64 by default; the image is multi-arch, so an x86_64 list works too)."
  type        = list(string)
  default     = ["m7g.large", "m6g.large", "c7g.large", "c6g.large", "r7g.large", "r6g.large"]

  validation {
    condition = length(var.instance_types) > 0 && length(distinct([
      for t in var.instance_types : can(regex("^[a-z]+[0-9]+g[a-z-]*\\.", t))
    ])) == 1
    error_message = "instance_types must be non-empty and all arm64 (Graviton, e.g. m7g.large) or all x86_64."
  }
}

variable "max_vcpus" {
  description = "Upper bound of vCPUs the compute environment may run at once (min is always 0)."
  type        = number
  default     = 4

  validation {
    condition     = var.max_vcpus >= 1 && var.max_vcpus <= 256
    error_message = "max_vcpus must be between 1 and 256."
  }
}

variable "job_timeout_seconds" {
  description = "Attempt timeout of the job; below the 10-minute period so runs never overlap."
  type        = number
  default     = 540

  validation {
    condition     = var.job_timeout_seconds >= 60 && var.job_timeout_seconds <= 590
    error_message = "job_timeout_seconds must be between 60 (Batch minimum) and 590 (under the 10-minute period)."
  }
}

variable "schedule_expression" {
  description = "EventBridge Scheduler expression of the collection trigger (UTC)."
  type        = string
  default     = "rate(10 minutes)"

  validation {
    condition     = can(regex("^(rate\\([0-9]+ (minute|minutes|hour|hours|day|days)\\)|cron\\(.+\\))$", var.schedule_expression))
    error_message = "schedule_expression must be rate(N unit) or cron(...)."
  }
}

variable "schedule_enabled" {
  description = "Whether the schedule fires (DISABLED keeps everything deployed but stops collection)."
  type        = bool
  default     = true
}

variable "log_retention_days" {
  description = "Retention of the job and notifier log groups."
  type        = number
  default     = 365

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a CloudWatch Logs retention value (1, 3, 5, 7, 14, 30, ..., 3653)."
  }
}

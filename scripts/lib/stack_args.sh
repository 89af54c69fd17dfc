#!/usr/bin/env bash
# Shared option parsing of deploy_infra.sh and destroy_infra.sh: both pass the same Terraform variables.
# Source after lib/infra_common.sh. stack::parse fills the STACK_* globals and the STACK_TF_VARS array.
# shellcheck disable=SC2034  # the STACK_* globals are read by the sourcing script

STACK_VPC=""
STACK_SUBNETS=""
STACK_SGS=""
STACK_IMAGE=""
STACK_REGION=""
STACK_BUCKET="spotlake"
STACK_PREFIX="collector"
STACK_TIMESERIES="timestream:spotlake/azure"
STACK_AUTH_TABLE="AzureAuth"
STACK_AUTH_ITEM="login_auth_az_true"
STACK_AUTH_REGION=""
STACK_PUBLIC_READ="true"
STACK_PROFILE=""
STACK_WEBHOOK=""
STACK_AUTO_APPROVE=0
STACK_TF_VARS=()

# SSM parameter the collector and the failure notifier read the webhook from (docs/contract.md 4).
readonly STACK_WEBHOOK_PARAMETER="error_notification_slack_webhook_url"

# stack::read_webhook SOURCE
# The webhook URL from a file (or "-": stdin), never from the command line: argv is visible to every user of
# the machine (ps, /proc/PID/cmdline) and lands in shell history. Exit 2 when SOURCE looks like the URL
# itself, is unreadable, or does not hold one https:// URL; no message ever repeats what was read.
stack::read_webhook() {
  local source="$1" value=""
  if [[ "${source}" == *://* ]]; then
    infra::usage_error "-w takes a FILE holding the webhook URL (or - for stdin), never the URL itself: a command line is visible to every local user"
  fi
  if [[ "${source}" == "-" ]]; then
    IFS= read -r value || [[ -n "${value}" ]] || infra::usage_error "-w -: nothing on stdin"
  else
    [[ -f "${source}" && -r "${source}" ]] || infra::usage_error "-w: ${source} is not a readable file"
    IFS= read -r value <"${source}" || [[ -n "${value}" ]] || infra::usage_error "-w: ${source} is empty"
  fi
  value="${value%$'\r'}"
  [[ "${value}" =~ ^https://[^[:space:]]+$ ]] || infra::usage_error "-w: the first line must be an https:// Slack webhook URL"
  STACK_WEBHOOK="${value}"
}

# stack::parse ALLOW_WEBHOOK ARGS...
# Parse and validate the stack options (and -w when ALLOW_WEBHOOK is 1); exit 2 on bad usage.
stack::parse() {
  local allow_webhook="$1" optstring=':v:s:g:i:r:b:P:T:A:I:R:Np:yh' opt webhook_source=""
  shift
  [[ "${allow_webhook}" != 1 ]] || optstring=':v:s:g:i:r:b:P:T:A:I:R:Np:w:yh'
  STACK_REGION="${INFRA_DEFAULT_REGION}"
  OPTIND=1
  while getopts "${optstring}" opt; do
    case "${opt}" in
      v) STACK_VPC="${OPTARG}" ;;
      s) STACK_SUBNETS="${OPTARG}" ;;
      g) STACK_SGS="${OPTARG}" ;;
      i) STACK_IMAGE="${OPTARG}" ;;
      r) STACK_REGION="${OPTARG}" ;;
      b) STACK_BUCKET="${OPTARG}" ;;
      P) STACK_PREFIX="${OPTARG}" ;;
      T) STACK_TIMESERIES="${OPTARG}" ;;
      A) STACK_AUTH_TABLE="${OPTARG}" ;;
      I) STACK_AUTH_ITEM="${OPTARG}" ;;
      R) STACK_AUTH_REGION="${OPTARG}" ;;
      N) STACK_PUBLIC_READ="false" ;;
      p) STACK_PROFILE="${OPTARG}" ;;
      w) webhook_source="${OPTARG}" ;;
      y) STACK_AUTO_APPROVE=1 ;;
      h) usage; exit 0 ;;
      *) infra::bad_option "${opt}" "${OPTARG}" ;;
    esac
  done
  infra::no_operands "${@:OPTIND}"

  infra::require_value "-v" "${STACK_VPC}"
  infra::require_value "-s" "${STACK_SUBNETS}"
  infra::require_value "-g" "${STACK_SGS}"
  infra::require_value "-i" "${STACK_IMAGE}"
  infra::check_pattern "-v" "${STACK_VPC}" '^vpc-[0-9a-f]{8,17}$' "a VPC id such as vpc-0123456789abcdef0"
  STACK_SUBNETS="$(infra::json_id_list "-s" "${STACK_SUBNETS}" "subnet-")"
  STACK_SGS="$(infra::json_id_list "-g" "${STACK_SGS}" "sg-")"
  infra::check_pattern "-i" "${STACK_IMAGE}" \
    '^[a-z0-9.-]+(:[0-9]+)?/[a-z0-9._/-]+(:[A-Za-z0-9._-]{1,128}|@sha256:[0-9a-f]{64})$' \
    "an image URI REGISTRY/REPOSITORY:TAG (the output of build_and_push.sh)"
  infra::check_region "${STACK_REGION}"
  infra::check_pattern "-b" "${STACK_BUCKET}" '^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$' "an S3 bucket name"
  # The same rule as variables.tf: no wildcard (it would widen the job's S3 grant), no . or .. segment; ""
  # (the whole bucket) only when asked for explicitly with -P ''.
  if [[ -n "${STACK_PREFIX}" ]]; then
    infra::check_pattern "-P" "${STACK_PREFIX}" "^[A-Za-z0-9!_.'()-]+(/[A-Za-z0-9!_.'()-]+)*$" \
      "a key prefix of letters, digits and ! _ . ' ( ) - segments joined by /, without wildcards ('' = whole bucket)"
    if [[ "/${STACK_PREFIX}/" =~ /\.{1,2}/ ]]; then
      infra::usage_error "-P must not contain a . or .. segment"
    fi
  fi
  local ts_database="" ts_table="azure"
  case "${STACK_TIMESERIES}" in
    parquet) ;;
    timestream:*/*)
      ts_database="${STACK_TIMESERIES#timestream:}"
      ts_table="${ts_database#*/}"
      ts_database="${ts_database%%/*}"
      infra::check_pattern "-T" "${ts_database}/${ts_table}" '^[a-zA-Z0-9_.-]{3,256}/[a-zA-Z0-9_.-]{3,256}$' \
        "timestream:DATABASE/TABLE (3-256 letters, digits, _ . - each) or parquet"
      ;;
    *) infra::usage_error "-T must be timestream:DATABASE/TABLE or parquet" ;;
  esac
  infra::check_pattern "-A" "${STACK_AUTH_TABLE}" '^[a-zA-Z0-9_.-]{3,255}$' "a DynamoDB table name"
  [[ -n "${STACK_AUTH_ITEM}" && ${#STACK_AUTH_ITEM} -le 1024 ]] || infra::usage_error "-I must be 1-1024 characters"
  if [[ -n "${STACK_AUTH_REGION}" ]]; then
    infra::check_pattern "-R" "${STACK_AUTH_REGION}" '^[a-z]{2}(-gov)?-[a-z]+-[0-9]$' "an AWS region code such as us-east-1"
  fi
  infra::check_profile "${STACK_PROFILE}"
  [[ -z "${webhook_source}" ]] || stack::read_webhook "${webhook_source}"

  STACK_TF_VARS=(
    -var "region=${STACK_REGION}"
    -var "vpc_id=${STACK_VPC}"
    -var "subnet_ids=${STACK_SUBNETS}"
    -var "security_group_ids=${STACK_SGS}"
    -var "image_uri=${STACK_IMAGE}"
    -var "bucket_name=${STACK_BUCKET}"
    -var "bucket_prefix=${STACK_PREFIX}"
    -var "timestream_database=${ts_database}"
    -var "timestream_table=${ts_table}"
    -var "azure_auth_table=${STACK_AUTH_TABLE}"
    -var "azure_auth_item=${STACK_AUTH_ITEM}"
    -var "azure_auth_region=${STACK_AUTH_REGION}"
    -var "public_read=${STACK_PUBLIC_READ}"
    -var "slack_webhook_parameter_name=${STACK_WEBHOOK_PARAMETER}"
  )
}

# stack::export_aws_env
# Region and profile for every aws/terraform child (the AWS provider reads both).
stack::export_aws_env() {
  export AWS_REGION="${STACK_REGION}" AWS_DEFAULT_REGION="${STACK_REGION}"
  [[ -z "${STACK_PROFILE}" ]] || export AWS_PROFILE="${STACK_PROFILE}"
}

# stack::terraform SUBCOMMAND ARGS...
# terraform in the repository's infrastructure/ directory, never prompting for input.
stack::terraform() {
  local subcommand="$1"
  shift
  terraform -chdir="$(infra::repo_root)/infrastructure" "${subcommand}" -input=false "$@"
}

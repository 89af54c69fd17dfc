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
STACK_PROFILE=""
STACK_WEBHOOK=""
STACK_AUTO_APPROVE=0
STACK_TF_VARS=()

# SSM parameter the collector and the failure notifier read the webhook from (SPEC 4).
readonly STACK_WEBHOOK_PARAMETER="error_notification_slack_webhook_url"

# stack::parse ALLOW_WEBHOOK ARGS...
# Parse and validate -v -s -g -i -r -b -p -y (and -w when ALLOW_WEBHOOK is 1); exit 2 on bad usage.
stack::parse() {
  local allow_webhook="$1" optstring=':v:s:g:i:r:b:p:yh' opt
  shift
  [[ "${allow_webhook}" != 1 ]] || optstring=':v:s:g:i:r:b:p:w:yh'
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
      p) STACK_PROFILE="${OPTARG}" ;;
      w) STACK_WEBHOOK="${OPTARG}" ;;
      y) STACK_AUTO_APPROVE=1 ;;
      h) usage; exit 0 ;;
      :) infra::usage_error "option -${OPTARG} needs a value" ;;
      *) infra::usage_error "unknown option -${OPTARG}" ;;
    esac
  done
  shift $((OPTIND - 1))
  [[ $# -eq 0 ]] || infra::usage_error "unexpected argument(s)"

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
  if [[ -n "${STACK_PROFILE}" ]]; then
    infra::check_pattern "-p" "${STACK_PROFILE}" '^[A-Za-z0-9_.@+=-]+$' "an AWS CLI profile name"
  fi
  if [[ -n "${STACK_WEBHOOK}" ]]; then
    infra::check_pattern "-w" "${STACK_WEBHOOK}" '^https://[^[:space:]]+$' "an https:// Slack webhook URL"
  fi

  STACK_TF_VARS=(
    -var "region=${STACK_REGION}"
    -var "vpc_id=${STACK_VPC}"
    -var "subnet_ids=${STACK_SUBNETS}"
    -var "security_group_ids=${STACK_SGS}"
    -var "image_uri=${STACK_IMAGE}"
    -var "bucket_name=${STACK_BUCKET}"
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

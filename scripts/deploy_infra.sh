#!/usr/bin/env bash
# Deploy the collector stack (Batch on Spot, 10-minute EventBridge Scheduler trigger, IAM, optional Slack
# failure notifier) with Terraform from infrastructure/.
#
# Usage: scripts/deploy_infra.sh -v VPC_ID -s SUBNETS_JSON -g SECURITY_GROUPS_JSON -i IMAGE_URI
#                                [-r REGION] [-b BUCKET] [-P PREFIX] [-T TIMESERIES] [-N]
#                                [-A AUTH_TABLE] [-I AUTH_ITEM] [-R AUTH_REGION]
#                                [-p PROFILE] [-w WEBHOOK_FILE] [-y] [-h]
#   -v  VPC id (required), e.g. vpc-0123456789abcdef0
#   -s  subnet ids as a JSON list (required), e.g. '["subnet-0123456789abcdef0"]'; they need outbound internet
#   -g  security group ids as a JSON list (required), e.g. '["sg-0123456789abcdef0"]'
#   -i  image URI (required; the last line printed by build_and_push.sh)
#   -r  AWS region of the stack (default us-west-2)
#   -b  existing S3 bucket of the store (default spotlake)
#   -P  key prefix of the store in the bucket (default collector); -P '' is the whole bucket (a bucket the
#       collector owns alone, or the SpotLake drop-in that publishes at the root)
#   -T  change-record sink: timestream:DATABASE/TABLE (default timestream:spotlake/azure; both must exist) or
#       parquet (files in the store; for accounts without Timestream for LiveAnalytics)
#   -N  no public-read ACLs on the public objects (default: public, as SpotLake serves them)
#   -A  DynamoDB table holding the Azure credential (default AzureAuth)
#   -I  id of the credential item (default login_auth_az_true)
#   -R  region of that table (default: the stack's region; SpotLake's AzureAuth is in us-east-1)
#   -p  AWS CLI profile (optional)
#   -w  file whose first line is the Slack webhook URL, or - to read it from stdin (optional): stored as the
#       SSM SecureString error_notification_slack_webhook_url and turns on the failure notifier; the URL is
#       never an argument (of this script, aws or terraform) and Terraform only ever sees the parameter name
#   -y  apply without the interactive approval prompt
#   -h  this help
# Environment: the usual AWS variables (AWS_PROFILE, credentials) for aws and the Terraform AWS provider.
# Needs: terraform >= 1.6, python3, and aws when -w is given.
# Exit codes: 0 deployed, 1 a tool or AWS call failed, 2 bad usage.
set -o errexit -o nounset -o pipefail

# shellcheck source=scripts/lib/infra_common.sh disable=SC1091  # followed when linted with -x (tests/infra)
source "$(dirname "${BASH_SOURCE[0]}")/lib/infra_common.sh"
# shellcheck source=scripts/lib/stack_args.sh disable=SC1091  # followed when linted with -x (tests/infra)
source "$(dirname "${BASH_SOURCE[0]}")/lib/stack_args.sh"

DEPLOY_TMP_DIR=""

usage() {
  infra::print_header "${BASH_SOURCE[0]}"
}

# deploy::cleanup
# EXIT trap: remove the private temp dir that held the SSM request.
deploy::cleanup() {
  [[ -z "${DEPLOY_TMP_DIR}" ]] || rm -rf "${DEPLOY_TMP_DIR}"
}

# deploy::store_webhook URL
# Put the webhook into SSM as a SecureString. The value travels through stdin into a 0600 request file read by
# `aws ... --cli-input-json file://`, so it never appears in any process's argv or in this script's output.
deploy::store_webhook() {
  local webhook="$1" request
  DEPLOY_TMP_DIR="$(mktemp -d)"
  chmod 700 "${DEPLOY_TMP_DIR}"
  request="${DEPLOY_TMP_DIR}/put-parameter.json"
  (umask 077 && printf '%s' "${webhook}" | python3 -c '
import json, sys
print(json.dumps({"Name": sys.argv[1], "Type": "SecureString", "Overwrite": True,
                  "Description": "Slack webhook for SpotLake Azure collector failure alerts",
                  "Value": sys.stdin.read()}))
' "${STACK_WEBHOOK_PARAMETER}" >"${request}")
  aws ssm put-parameter --cli-input-json "file://${request}" >/dev/null \
    || infra::fail "could not store the webhook in SSM parameter ${STACK_WEBHOOK_PARAMETER}"
  rm -f "${request}"
  infra::log "stored the webhook in SSM parameter ${STACK_WEBHOOK_PARAMETER} (SecureString)"
}

main() {
  stack::parse 1 "$@"
  infra::require_cmd terraform python3
  [[ -z "${STACK_WEBHOOK}" ]] || infra::require_cmd aws
  trap deploy::cleanup EXIT
  stack::export_aws_env

  local extra=()
  if [[ -n "${STACK_WEBHOOK}" ]]; then
    deploy::store_webhook "${STACK_WEBHOOK}"
    extra+=(-var "enable_failure_notification=true")
  fi
  [[ "${STACK_AUTO_APPROVE}" != 1 ]] || extra+=(-auto-approve)

  infra::log "terraform init"
  stack::terraform init >&2
  infra::log "terraform apply in ${STACK_REGION}"
  stack::terraform apply "${STACK_TF_VARS[@]}" "${extra[@]}"
  infra::log "deployed"
}

main "$@"

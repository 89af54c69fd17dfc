#!/usr/bin/env bash
# Tear down the collector stack created by deploy_infra.sh (terraform destroy in infrastructure/).
#
# Usage: scripts/destroy_infra.sh -v VPC_ID -s SUBNETS_JSON -g SECURITY_GROUPS_JSON -i IMAGE_URI
#                                 [-r REGION] [-b BUCKET] [-P PREFIX] [-T TIMESERIES] [-N]
#                                 [-A AUTH_TABLE] [-I AUTH_ITEM] [-R AUTH_REGION] [-p PROFILE] [-y] [-h]
#   -v -s -g -i -r -b -P -T -N -A -I -R -p  as for deploy_infra.sh (Terraform plans a destroy with the same
#       variables: give the options the deploy was given)
#   -y  destroy without the interactive approval prompt
#   -h  this help
# The S3 bucket, the Timestream table, the DynamoDB auth table and the ECR image are not managed here and stay.
# The SSM webhook parameter written by deploy_infra.sh -w also stays; delete it with
#   aws ssm delete-parameter --name error_notification_slack_webhook_url
# Needs: terraform >= 1.6, python3.
# Exit codes: 0 destroyed, 1 a tool or AWS call failed, 2 bad usage.
set -o errexit -o nounset -o pipefail

# shellcheck source=scripts/lib/infra_common.sh disable=SC1091  # followed when linted with -x (tests/infra)
source "$(dirname "${BASH_SOURCE[0]}")/lib/infra_common.sh"
# shellcheck source=scripts/lib/stack_args.sh disable=SC1091  # followed when linted with -x (tests/infra)
source "$(dirname "${BASH_SOURCE[0]}")/lib/stack_args.sh"

usage() {
  infra::print_header "${BASH_SOURCE[0]}"
}

main() {
  stack::parse 0 "$@"
  infra::require_cmd terraform python3
  stack::export_aws_env

  local extra=()
  [[ "${STACK_AUTO_APPROVE}" != 1 ]] || extra+=(-auto-approve)

  infra::log "terraform init"
  stack::terraform init >&2
  infra::log "terraform destroy in ${STACK_REGION}"
  stack::terraform destroy "${STACK_TF_VARS[@]}" "${extra[@]}"
  infra::log "destroyed"
}

main "$@"

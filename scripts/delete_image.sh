#!/usr/bin/env bash
# Delete one image tag of the collector from Amazon ECR.
#
# Usage: scripts/delete_image.sh [-r REGION] [-t TAG] [-n REPOSITORY] [-p PROFILE] [-h]
#   -r  AWS region (default us-west-2)
#   -t  image tag to delete (default latest)
#   -n  ECR repository name (default spotlake-azure-batch)
#   -p  AWS CLI profile (optional)
#   -h  this help
# Deleting the tag of a multi-arch image removes its manifest list; the per-architecture manifests become
# untagged (an ECR lifecycle rule on untagged images cleans them up).
# Needs: aws. Exit codes: 0 deleted, 1 ECR refused or failed, 2 bad usage.
set -o errexit -o nounset -o pipefail

# shellcheck source=scripts/lib/infra_common.sh disable=SC1091  # followed when linted with -x (tests/infra)
source "$(dirname "${BASH_SOURCE[0]}")/lib/infra_common.sh"

usage() {
  infra::print_header "${BASH_SOURCE[0]}"
}

main() {
  local region="${INFRA_DEFAULT_REGION}" tag="latest" repo="spotlake-azure-batch" profile="" opt
  while getopts ':r:t:n:p:h' opt; do
    case "${opt}" in
      r) region="${OPTARG}" ;;
      t) tag="${OPTARG}" ;;
      n) repo="${OPTARG}" ;;
      p) profile="${OPTARG}" ;;
      h) usage; exit 0 ;;
      :) infra::usage_error "option -${OPTARG} needs a value" ;;
      *) infra::usage_error "unknown option -${OPTARG}" ;;
    esac
  done
  shift $((OPTIND - 1))
  [[ $# -eq 0 ]] || infra::usage_error "unexpected argument(s)"

  infra::check_region "${region}"
  infra::check_image_ref "${tag}" "${repo}"
  if [[ -n "${profile}" ]]; then
    infra::check_pattern "-p" "${profile}" '^[A-Za-z0-9_.@+=-]+$' "an AWS CLI profile name"
  fi
  infra::require_cmd aws
  export AWS_REGION="${region}" AWS_DEFAULT_REGION="${region}"
  [[ -z "${profile}" ]] || export AWS_PROFILE="${profile}"

  # batch-delete-image exits 0 even when nothing was deleted; the reasons come back in "failures".
  local failures
  failures="$(aws ecr batch-delete-image --repository-name "${repo}" --image-ids "imageTag=${tag}" \
    --query 'failures[].[failureCode,failureReason]' --output text)" \
    || infra::fail "could not call ECR batch-delete-image for ${repo}"
  if [[ -n "${failures}" && "${failures}" != "None" ]]; then
    infra::fail "ECR did not delete ${repo}:${tag}: ${failures}"
  fi
  infra::log "deleted ${repo}:${tag} in ${region}"
}

main "$@"

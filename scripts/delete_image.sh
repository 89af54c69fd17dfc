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
  local opt
  while getopts ':r:t:n:p:h' opt; do
    case "${opt}" in
      h) usage; exit 0 ;;
      *) infra::image_option "${opt}" "${OPTARG}" ;;
    esac
  done
  infra::check_image_args "${@:OPTIND}"
  infra::check_profile "${IMAGE_PROFILE}"
  infra::require_cmd aws
  export AWS_REGION="${IMAGE_REGION}" AWS_DEFAULT_REGION="${IMAGE_REGION}"
  [[ -z "${IMAGE_PROFILE}" ]] || export AWS_PROFILE="${IMAGE_PROFILE}"

  # batch-delete-image exits 0 even when nothing was deleted; the reasons come back in "failures".
  local failures
  failures="$(aws ecr batch-delete-image --repository-name "${IMAGE_REPO}" --image-ids "imageTag=${IMAGE_TAG}" \
    --query 'failures[].[failureCode,failureReason]' --output text)" \
    || infra::fail "could not call ECR batch-delete-image for ${IMAGE_REPO}"
  if [[ -n "${failures}" && "${failures}" != "None" ]]; then
    infra::fail "ECR did not delete ${IMAGE_REPO}:${IMAGE_TAG}: ${failures}"
  fi
  infra::log "deleted ${IMAGE_REPO}:${IMAGE_TAG} in ${IMAGE_REGION}"
}

main "$@"

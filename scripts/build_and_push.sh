#!/usr/bin/env bash
# Build the collector image for linux/amd64 and linux/arm64 (Graviton Spot) and push it to Amazon ECR.
#
# Usage: scripts/build_and_push.sh [-r REGION] [-p PROFILE] [-a ACCESS_KEY_ID -s SECRET_ACCESS_KEY]
#                                  [-t TAG] [-n REPOSITORY] [-h]
#   -r  AWS region of the ECR repository (default us-west-2)
#   -p  AWS CLI profile (optional)
#   -a  AWS access key id  } optional, given together; they authenticate only this script's own `aws` calls and
#   -s  AWS secret key     } never reach `docker` or the image (the job runs with its Batch job role)
#   -t  image tag (default latest)
#   -n  ECR repository name (default spotlake-azure-batch); created (scan on push) when missing
#   -h  this help
# Environment: the usual AWS CLI variables (AWS_PROFILE, AWS_ENDPOINT_URL, ...) when -p/-a/-s are not given.
# Needs: aws (CLI v1 or v2), docker with the buildx plugin and a running engine (cross builds use QEMU/binfmt).
# Prints the pushed image URI (REGISTRY/REPOSITORY:TAG) as the last line of stdout, for deploy_infra.sh -i.
# Exit codes: 0 pushed, 1 a tool or AWS call failed, 2 bad usage.
set -o errexit -o nounset -o pipefail

# shellcheck source=scripts/lib/infra_common.sh disable=SC1091  # followed when linted with -x (tests/infra)
source "$(dirname "${BASH_SOURCE[0]}")/lib/infra_common.sh"

readonly BUILD_PLATFORMS="linux/amd64,linux/arm64"
readonly BUILDER_NAME="spotlake-multiarch"

usage() {
  infra::print_header "${BASH_SOURCE[0]}"
}

# build::docker ARGS...
# Run docker without any AWS credential in its environment: it needs none (login uses --password-stdin).
build::docker() {
  env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY -u AWS_SESSION_TOKEN docker "$@"
}

# build::ensure_repository NAME
# Print the repository URI, creating the repository (scan on push, encrypted by default) when it is missing.
build::ensure_repository() {
  local name="$1" uri err_file
  err_file="$(mktemp)"
  if uri="$(aws ecr describe-repositories --repository-names "${name}" \
    --query 'repositories[0].repositoryUri' --output text 2>"${err_file}")"; then
    rm -f "${err_file}"
    printf '%s\n' "${uri}"
    return 0
  fi
  if ! grep -q 'RepositoryNotFoundException' "${err_file}"; then
    cat "${err_file}" >&2
    rm -f "${err_file}"
    infra::fail "could not describe ECR repository ${name}"
  fi
  rm -f "${err_file}"
  infra::log "creating ECR repository ${name}"
  aws ecr create-repository --repository-name "${name}" \
    --image-scanning-configuration scanOnPush=true \
    --query 'repository.repositoryUri' --output text
}

# build::login REGISTRY
# docker login to ECR; the password goes through a pipe, never argv or the terminal.
build::login() {
  local registry="$1"
  aws ecr get-login-password | build::docker login --username AWS --password-stdin "${registry}" >/dev/null
  infra::log "logged in to ${registry}"
}

# build::ensure_builder
# A docker-container buildx builder: the default docker driver cannot build multi-platform images.
build::ensure_builder() {
  if ! build::docker buildx inspect "${BUILDER_NAME}" >/dev/null 2>&1; then
    infra::log "creating buildx builder ${BUILDER_NAME}"
    build::docker buildx create --name "${BUILDER_NAME}" --driver docker-container >/dev/null
  fi
}

main() {
  local region="${INFRA_DEFAULT_REGION}" profile="" access_key="" secret_key="" tag="latest"
  local repo="spotlake-azure-batch" opt
  while getopts ':r:p:a:s:t:n:h' opt; do
    case "${opt}" in
      r) region="${OPTARG}" ;;
      p) profile="${OPTARG}" ;;
      a) access_key="${OPTARG}" ;;
      s) secret_key="${OPTARG}" ;;
      t) tag="${OPTARG}" ;;
      n) repo="${OPTARG}" ;;
      h) usage; exit 0 ;;
      :) infra::usage_error "option -${OPTARG} needs a value" ;;
      *) infra::usage_error "unknown option -${OPTARG}" ;;
    esac
  done
  shift $((OPTIND - 1))
  [[ $# -eq 0 ]] || infra::usage_error "unexpected argument(s)"

  infra::check_region "${region}"
  infra::check_image_ref "${tag}" "${repo}"
  if [[ -n "${access_key}" || -n "${secret_key}" ]]; then
    [[ -n "${access_key}" && -n "${secret_key}" ]] || infra::usage_error "-a and -s must be given together"
    infra::check_pattern "-a" "${access_key}" '^[A-Z0-9]{16,128}$' "an AWS access key id"
  fi
  if [[ -n "${profile}" ]]; then
    infra::check_pattern "-p" "${profile}" '^[A-Za-z0-9_.@+=-]+$' "an AWS CLI profile name"
  fi
  infra::require_cmd aws docker

  export AWS_REGION="${region}" AWS_DEFAULT_REGION="${region}"
  [[ -z "${profile}" ]] || export AWS_PROFILE="${profile}"
  if [[ -n "${access_key}" ]]; then
    # Only this process and its aws children see them; build::docker strips them again.
    export AWS_ACCESS_KEY_ID="${access_key}" AWS_SECRET_ACCESS_KEY="${secret_key}"
    unset AWS_SESSION_TOKEN
  fi

  local repo_uri registry image root
  repo_uri="$(build::ensure_repository "${repo}")"
  [[ "${repo_uri}" == */* ]] || infra::fail "unexpected repository URI from ECR"
  registry="${repo_uri%%/*}"
  image="${repo_uri}:${tag}"
  root="$(infra::repo_root)"

  build::login "${registry}"
  build::ensure_builder
  infra::log "building ${image} for ${BUILD_PLATFORMS}"
  build::docker buildx build --builder "${BUILDER_NAME}" --platform "${BUILD_PLATFORMS}" \
    --file "${root}/Dockerfile" --tag "${image}" --push "${root}" >&2
  infra::log "pushed ${image}"
  printf '%s\n' "${image}"
}

main "$@"

#!/usr/bin/env bash
# Build the collector image for linux/amd64 and linux/arm64 (Graviton Spot) and push it to Amazon ECR.
#
# Usage: scripts/build_and_push.sh [-r REGION] [-p PROFILE] [-c CREDENTIALS_FILE] [-t TAG] [-n REPOSITORY] [-h]
#   -r  AWS region of the ECR repository (default us-west-2)
#   -p  AWS CLI profile (optional; with -c, the section of that file, default "default")
#   -c  AWS shared-credentials file (INI, as ~/.aws/credentials) for this script's own `aws` calls (optional)
#   -t  image tag (default latest)
#   -n  ECR repository name (default spotlake-azure-batch); created (scan on push) when missing
#   -h  this help
# Credentials never go on the command line (argv is visible to every local user and lands in shell history):
# use -p, -c, or the usual AWS variables in the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
# AWS_SESSION_TOKEN, AWS_PROFILE, AWS_ENDPOINT_URL, ...). They authenticate only the `aws` calls and never
# reach `docker` or the image (the job runs with its Batch job role). The former -a/-s options are refused.
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
  env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY -u AWS_SESSION_TOKEN -u AWS_SHARED_CREDENTIALS_FILE \
    docker "$@"
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
  local credentials_file="" opt
  while getopts ':r:p:c:t:n:ash' opt; do
    case "${opt}" in
      c) credentials_file="${OPTARG}" ;;
      a | s)
        # Taken without a value so that the secret that may follow is never parsed, echoed or kept.
        infra::usage_error "-${opt} was removed: credentials never go on a command line; export AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or use -p PROFILE or -c CREDENTIALS_FILE"
        ;;
      h) usage; exit 0 ;;
      *) infra::image_option "${opt}" "${OPTARG}" ;;
    esac
  done
  infra::check_image_args "${@:OPTIND}"
  if [[ -n "${credentials_file}" ]]; then
    [[ -f "${credentials_file}" && -r "${credentials_file}" ]] \
      || infra::usage_error "-c: ${credentials_file} is not a readable file"
    credentials_file="$(cd "$(dirname "${credentials_file}")" && pwd)/$(basename "${credentials_file}")"
  fi
  infra::check_profile "${IMAGE_PROFILE}"
  infra::require_cmd aws docker

  export AWS_REGION="${IMAGE_REGION}" AWS_DEFAULT_REGION="${IMAGE_REGION}"
  [[ -z "${IMAGE_PROFILE}" ]] || export AWS_PROFILE="${IMAGE_PROFILE}"
  if [[ -n "${credentials_file}" ]]; then
    # The file's keys win over any in the environment; build::docker strips the variable again.
    export AWS_SHARED_CREDENTIALS_FILE="${credentials_file}"
    unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN
  fi

  local repo_uri registry image root
  repo_uri="$(build::ensure_repository "${IMAGE_REPO}")"
  [[ "${repo_uri}" == */* ]] || infra::fail "unexpected repository URI from ECR"
  registry="${repo_uri%%/*}"
  image="${repo_uri}:${IMAGE_TAG}"
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

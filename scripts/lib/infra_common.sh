#!/usr/bin/env bash
# Shared helpers of the deploy scripts (build_and_push.sh, deploy_infra.sh, destroy_infra.sh, delete_image.sh).
# Source it after `set -o errexit -o nounset -o pipefail` and after defining a `usage` function that prints the
# script's usage to stdout. Every helper prints diagnostics on stderr only and never prints an argument value
# that may be a secret.

# Default AWS region of every script (SpotLake's collectors run in us-west-2); read by the sourcing scripts.
# shellcheck disable=SC2034
readonly INFRA_DEFAULT_REGION="us-west-2"

# infra::log MESSAGE...
# One line on stderr, tagged with the calling script's name.
infra::log() {
  printf '[%s] %s\n' "$(basename "$0" .sh)" "$*" >&2
}

# infra::usage_error MESSAGE
# Bad usage or input: message and usage on stderr, exit 2.
infra::usage_error() {
  printf 'error: %s\n\n' "$1" >&2
  usage >&2
  exit 2
}

# infra::fail MESSAGE
# A run failure (a tool or AWS call failed): message on stderr, exit 1.
infra::fail() {
  printf 'error: %s\n' "$1" >&2
  exit 1
}

# infra::bad_option GETOPTS_NAME OPTARG
# The usage error (exit 2) of a silent getopts (':...') loop's ':' (an option without its value) or '?' (an
# unknown option) case: `*) infra::bad_option "${opt}" "${OPTARG}" ;;`.
infra::bad_option() {
  if [[ "$1" == ":" ]]; then
    infra::usage_error "option -$2 needs a value"
  fi
  infra::usage_error "unknown option -$2"
}

# infra::no_operands ARG...
# Exit 2 when anything follows the options: `infra::no_operands "${@:OPTIND}"` after the getopts loop.
infra::no_operands() {
  [[ $# -eq 0 ]] || infra::usage_error "unexpected argument(s)"
}

# The ECR image options of build_and_push.sh and delete_image.sh (-r REGION -t TAG -n REPOSITORY -p PROFILE),
# set by infra::image_option and read by those scripts.
# shellcheck disable=SC2034
IMAGE_REGION="${INFRA_DEFAULT_REGION}" IMAGE_TAG="latest" IMAGE_REPO="spotlake-azure-batch" IMAGE_PROFILE=""

# infra::image_option GETOPTS_NAME OPTARG
# The image options' getopts case, `*) infra::image_option "${opt}" "${OPTARG}" ;;`: -r -t -n -p set IMAGE_*;
# anything else is a usage error (infra::bad_option).
infra::image_option() {
  case "$1" in
    r) IMAGE_REGION="$2" ;;
    t) IMAGE_TAG="$2" ;;
    n) IMAGE_REPO="$2" ;;
    p) IMAGE_PROFILE="$2" ;;
    *) infra::bad_option "$1" "$2" ;;
  esac
}

# infra::check_image_args ARG...
# After the image options' getopts loop, `infra::check_image_args "${@:OPTIND}"`: exit 2 on an operand, or
# unless -r is a region and -t/-n an image reference.
infra::check_image_args() {
  infra::no_operands "$@"
  infra::check_region "${IMAGE_REGION}"
  infra::check_image_ref "${IMAGE_TAG}" "${IMAGE_REPO}"
}

# infra::require_value OPTION VALUE
# Exit 2 when a required option was not given (VALUE empty).
infra::require_value() {
  local option="$1" value="$2"
  if [[ -z "${value}" ]]; then
    infra::usage_error "missing required option ${option}"
  fi
}

# infra::check_pattern OPTION VALUE REGEX WHAT
# Exit 2 unless VALUE matches the extended REGEX; the message names the option, not the value.
infra::check_pattern() {
  local option="$1" value="$2" regex="$3" what="$4"
  if [[ ! "${value}" =~ ${regex} ]]; then
    infra::usage_error "${option} must be ${what}"
  fi
}

# infra::check_region VALUE
infra::check_region() {
  infra::check_pattern "-r" "$1" '^[a-z]{2}(-gov)?-[a-z]+-[0-9]$' "an AWS region code such as us-west-2"
}

# infra::check_image_ref TAG REPO
# Exit 2 unless -t is a Docker tag and -n an ECR repository name.
infra::check_image_ref() {
  infra::check_pattern "-t" "$1" '^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$' "a Docker tag (letters, digits, _ . -; max 128)"
  infra::check_pattern "-n" "$2" '^[a-z0-9]+([._/-][a-z0-9]+)*$' "an ECR repository name (lowercase, digits, . _ - /)"
}

# infra::check_profile VALUE
# Exit 2 unless -p is empty (not given) or an AWS CLI profile name.
infra::check_profile() {
  if [[ -n "$1" ]]; then
    infra::check_pattern "-p" "$1" '^[A-Za-z0-9_.@+=-]+$' "an AWS CLI profile name"
  fi
}

# infra::require_cmd NAME...
# Exit 1 when a required tool is not on PATH.
infra::require_cmd() {
  local name
  for name in "$@"; do
    command -v "${name}" >/dev/null 2>&1 || infra::fail "required command not found on PATH: ${name}"
  done
}

# infra::json_id_list OPTION VALUE ID_PREFIX
# Validate VALUE as a non-empty JSON list of strings that all start with ID_PREFIX (e.g. "subnet-") and print
# it back as compact JSON (also valid HCL list syntax for `terraform -var`). Exit 2 when it is not.
infra::json_id_list() {
  local option="$1" value="$2" prefix="$3" normalised
  if ! normalised="$(python3 -c '
import json, re, sys
try:
    items = json.loads(sys.argv[1])
except ValueError:
    sys.exit(1)
pattern = re.compile(re.escape(sys.argv[2]) + r"[0-9a-f]{8,17}")
if not isinstance(items, list) or not items:
    sys.exit(1)
if not all(isinstance(i, str) and pattern.fullmatch(i) for i in items):
    sys.exit(1)
print(json.dumps(items, separators=(",", ":")))
' "${value}" "${prefix}" 2>/dev/null)"; then
    infra::usage_error "${option} must be a non-empty JSON list of ${prefix}... ids, e.g. '[\"${prefix}0123456789abcdef0\"]'"
  fi
  printf '%s\n' "${normalised}"
}

# infra::repo_root
# Absolute path of the repository (the parent of scripts/).
infra::repo_root() {
  (cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
}

# infra::print_header FILE
# Print FILE's leading comment block (after the shebang) without the "# " markers: the usage text.
infra::print_header() {
  awk 'NR == 1 { next } /^#/ { sub(/^# ?/, ""); print; next } { exit }' "$1"
}

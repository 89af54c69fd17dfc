#!/usr/bin/env bash
# One SpotLake Azure collection run: one 10-minute slot, end to end (docs/contract.md 2).
#
# Usage: run_collection.sh [TIMESTAMP]
#        run_collection.sh -h | --help
#
# Arguments:
#   TIMESTAMP  the run slot (UTC): '2025-12-13 13:00', '2025-12-13T13:00', '2025-12-13T13:00:00',
#              '2025-12-13T13:00:00Z' (what EventBridge Scheduler sends), or ISO 8601 with an offset
#              (converted to UTC). Seconds are dropped and the time is floored to its 10-minute slot.
#              Default: now, floored.
#
# Environment (docs/contract.md 4; every variable is optional, the defaults give a local run):
#   SPOTLAKE_STORE, SPOTLAKE_TIMESERIES, SPOTLAKE_METRICS   where outputs go
#   AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET, AZURE_SUBSCRIPTION_IDS, AZURE_AUTH_TABLE,
#   AZURE_AUTH_ITEM                                         Azure credential (none: emulator mode on a local store)
#   SPOTLAKE_AZURE_EMULATOR     1: use the bundled Azure emulator
#   SPOTLAKE_EMULATOR_URL       an emulator already running; without it, emulator mode starts one on 127.0.0.1
#                               for this run and exports its URL to the collectors and the merge
#   SPOTLAKE_EMULATOR_CATALOG   catalog CSV of the emulator this run starts (default: the bundled world catalog)
#   SPOTLAKE_EMULATOR_FAULTS    fault spec passed to that emulator (--faults; see emulator/README.md), for drills
#   SPOTLAKE_EMULATOR_LATENCY_MS  added latency per request of that emulator (--latency-ms), for benchmarks
#   SPS_KEY_FILE                where the run leaves the SPS key for standalone use (default /tmp/sps_key.txt);
#                               the run's own collector and merge use a private handoff in the run's scratch
#                               directory, so runs for different stores on one host never see each other's key
#   SPOTLAKE_JOB_TIMEOUT        the job's attempt timeout, seconds (default 540, as the Terraform job definition)
#   SPOTLAKE_LEASE_TTL          seconds a crashed run's lease can block the next run (default job timeout + 30;
#                               a dead holder on this host or an earlier attempt of the same Batch job is
#                               taken over at once; scripts/run_lease.py break removes a lease on purpose)
#   SPOTLAKE_IMDS_URL           EC2 instance metadata base URL (default http://169.254.169.254)
#   error_notification_slack_webhook_url   Slack webhook of the one failure alert (else the SSM parameter of
#                               that name on an S3 store; else the alert is only logged)
#   AWS_ENDPOINT_URL, AWS_REGION                            AWS endpoint/region (moto in tests)
#   SPOTLAKE_PYTHON             the Python interpreter to use (default: the repository's .venv/bin/python when
#                               present, else python3 from PATH, as in the image); one missing package is one
#                               line naming the fix (`make venv`) and exit 2
#
# Flow: check the interpreter -> parse the slot (refused when more than one slot ahead of the clock) -> check
# the settings -> check the sink prerequisites (bucket, Timestream database/table, log group access) -> take
# the run lease (no overlapping runs) -> refuse a late slot -> start the emulator when emulator mode has no
# URL -> run the SPS, IF and price collectors in parallel (memory sampled; a fresh private handoff file) ->
# copy the checked SPS key to SPS_KEY_FILE -> merge -> store monitoring -> print the summary, whose verdict is
# the exit code.
#
# Slot order (merge/slot_order.py): a slot older than the last committed one is refused (exit 2, no alert);
# a committed slot (its state snapshot is stored) is not collected again: the merge re-publishes it from
# its stored raw data, which converges to the first attempt's outputs.
#
# Merge decision (docs/contract.md 8): the merge runs when the SPS collector succeeded. If the price or IF
# collector failed, the merge still runs and falls back to the newest earlier raw dataset of that kind
# (<= 24 h old), failing if there is none; the run still exits 1 because a collector failed. When the SPS
# collector failed there is nothing to merge: the merge is skipped and the latest state stays as it was.
#
# Exit codes: 0 every collector, the merge and the monitoring succeeded; 1 anything failed (a collector,
# the merge, the monitoring, another run holding the lease, a signal such as Batch's SIGTERM on timeout),
# after exactly one alert; 2 bad TIMESTAMP or configuration (no alert).

set -o errexit -o nounset -o pipefail

# `wait -n -p` (which collector finished) needs bash 5.1; macOS ships bash 3.2 as /bin/bash.
if ((BASH_VERSINFO[0] < 5 || (BASH_VERSINFO[0] == 5 && BASH_VERSINFO[1] < 1))); then
  printf 'error: run_collection.sh needs bash 5.1 or newer (this is %s)\n' "${BASH_VERSION}" >&2
  exit 2
fi

SPOTLAKE_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
readonly SPOTLAKE_ROOT
# The interpreter: an explicit override, else the repository's virtualenv (`make venv`), else python3 as in the
# image. Checked by spotlake::run::check_python before anything runs.
if [[ -n "${SPOTLAKE_PYTHON:-}" ]]; then
  SPOTLAKE_PY="${SPOTLAKE_PYTHON}"
elif [[ -x "${SPOTLAKE_ROOT}/.venv/bin/python" ]]; then
  SPOTLAKE_PY="${SPOTLAKE_ROOT}/.venv/bin/python"
else
  SPOTLAKE_PY="python3"
fi
readonly SPOTLAKE_PY
readonly COLLECTORS=(sps if price)
readonly CHILD_STOP_GRACE=10  # seconds between SIGTERM and SIGKILL when stopping children (the emulator: launch.py)

# Run state, set by the functions below.
SLOT=""                 # canonical slot, e.g. 2025-12-13T13:00:00Z
WORK_DIR=""             # scratch files of this run (FIFOs, timings, memory samples)
ALERT_ARMED=0           # 1 once usage and settings are valid: a failure from then on sends the one alert
FAILURES=()             # what failed, for the log and the alert
CLEANUPS=()             # functions the EXIT trap runs, last added first
declare -A RUNNING=()   # pid -> name of every child still to be waited on (collectors, merge, sampler)
declare -A STATUS=()    # component -> exit code, or "skipped"
declare -A SETTING=()   # what scripts/settings_probe.py env printed
LEASE_HOLDER=""
SLOT_STATUS=""          # new | committed (merge/slot_order.py)
EMULATOR_PID=""
EMULATOR_URL=""
SPAWNED_PID=""
HANDOFF=""              # the private SPS handoff file of this run's collector and merge
SUMMARY_PRINTED=0       # 1 once run_summary.py printed the verdict
FORKING=0               # 1 while a child is started and not yet registered: a signal then waits (see on_signal)
PENDING_SIGNAL=""       # a signal that arrived while FORKING

# spotlake::log::emit LEVEL MESSAGE...
# One line on stderr, in the same shape as the Python components' logs, tagged [run].
spotlake::log::emit() {
  local level="$1"
  shift
  printf '%s %s [run] run_collection: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%S)" "${level}" "$*" >&2
}
spotlake::log::info() { spotlake::log::emit INFO "$@"; }
spotlake::log::warn() { spotlake::log::emit WARNING "$@"; }
spotlake::log::error() { spotlake::log::emit ERROR "$@"; }

# spotlake::log::prefix NAME
# Copy stdin to stderr line by line, each line prefixed with [NAME] so interleaved outputs stay attributable.
spotlake::log::prefix() {
  local name="$1" line
  while IFS= read -r line || [[ -n "${line}" ]]; do
    printf '[%s] %s\n' "${name}" "${line}" >&2
  done
}

# spotlake::util::usage
# Print the header comment of this file (the usage text) on stdout.
spotlake::util::usage() {
  sed -n '2,/^$/{s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"
}

# spotlake::util::usage_error MESSAGE
# Bad usage or input: message and usage on stderr, exit 2 (no alert: nothing ran).
spotlake::util::usage_error() {
  printf 'error: %s\n\n' "$1" >&2
  spotlake::util::usage >&2
  exit 2
}

# spotlake::trap::add FUNCTION
# Register a cleanup function; the one EXIT trap runs them in reverse order of registration.
spotlake::trap::add() {
  CLEANUPS+=("$1")
}

# spotlake::run::fail MESSAGE
# Record a failure of this run (the run will exit 1 and alert once).
spotlake::run::fail() {
  FAILURES+=("$1")
  spotlake::log::error "$1"
}

# spotlake::run::on_signal NAME
# SIGTERM (Batch timeout or job termination), SIGINT or SIGHUP: fail the run; the EXIT trap stops everything
# (it forwards SIGTERM to every child, waits CHILD_STOP_GRACE seconds, then SIGKILLs what is left). A signal
# that arrives between starting a child and registering its pid is held until the child is registered
# (spotlake::run::forked), so no child escapes the forwarding.
spotlake::run::on_signal() {
  if ((FORKING)); then
    PENDING_SIGNAL="$1"
    return 0
  fi
  spotlake::run::fail "interrupted by SIG$1"
  exit 1
}

# spotlake::run::forking / spotlake::run::forked
# Bracket starting a background child and recording its pid; a signal in between is handled at forked.
spotlake::run::forking() {
  FORKING=1
}
spotlake::run::forked() {
  FORKING=0
  if [[ -n "${PENDING_SIGNAL}" ]]; then
    spotlake::run::on_signal "${PENDING_SIGNAL}"
  fi
}

# spotlake::run::on_exit
# The one EXIT trap: stop children, send the one alert of a failed run, run the registered cleanups.
spotlake::run::on_exit() {
  local rc=$? i
  trap - EXIT
  trap '' TERM INT HUP  # a second signal must not cut the cleanup short
  if ((rc != 0 && rc != 1 && rc != 2)); then
    # errexit on an unexpected command failure: still a failed run, with the documented exit code.
    spotlake::run::fail "unexpected failure (status ${rc}); see the log above"
    rc=1
  fi
  spotlake::run::stop_children
  if ((rc != 0 && ALERT_ARMED)); then
    spotlake::run::send_alert
  fi
  for ((i = ${#CLEANUPS[@]} - 1; i >= 0; i--)); do
    # Each cleanup logs its own problem; the remaining cleanups must still run and the exit code stands.
    "${CLEANUPS[i]}" || spotlake::log::warn "cleanup ${CLEANUPS[i]} failed"
  done
  exit "${rc}"
}

# spotlake::run::stop_children
# SIGTERM every child not yet waited on, SIGKILL what is left after CHILD_STOP_GRACE seconds, reap all.
spotlake::run::stop_children() {
  local pid deadline
  local -a alive=()
  for pid in "${!RUNNING[@]}"; do
    if kill -0 "${pid}" 2>/dev/null; then
      alive+=("${pid}")
    fi
  done
  if ((${#alive[@]} == 0)); then
    return 0
  fi
  spotlake::log::warn "stopping ${#alive[@]} child process(es): $(for pid in "${alive[@]}"; do printf '%s ' "${RUNNING[${pid}]}"; done)"
  kill -TERM "${alive[@]}" 2>/dev/null || true  # a child may exit on its own meanwhile
  deadline=$((SECONDS + CHILD_STOP_GRACE))
  for pid in "${alive[@]}"; do
    while kill -0 "${pid}" 2>/dev/null && ((SECONDS < deadline)); do
      sleep 0.1
    done
    kill -KILL "${pid}" 2>/dev/null || true  # already gone is the normal case
    wait "${pid}" 2>/dev/null || true        # its status no longer matters: the run is failing
    unset "RUNNING[${pid}]"
  done
}

# spotlake::run::send_alert
# The one alert of a failed run, through utils.slack_msg_sender (never fails the exit path).
spotlake::run::send_alert() {
  local text name failure statuses="" reasons=""
  for name in "${COLLECTORS[@]}" merge; do
    statuses+=" ${name}=${STATUS[${name}]:-not run}"
  done
  for failure in "${FAILURES[@]}"; do
    reasons+="; ${failure}"
  done
  reasons="${reasons#; }"
  text="SpotLake Azure run ${SLOT:-?} failed: ${reasons:-unexpected error (see the log)} (${statuses# })"
  "${SPOTLAKE_PY}" "${SPOTLAKE_ROOT}/scripts/send_alert.py" --text "${text}" ||
    spotlake::log::warn "the failure alert could not be sent"
}

# spotlake::run::check_python
# Exit 2 with one line naming the fix when SPOTLAKE_PY is missing, too old or lacks a runtime package.
spotlake::run::check_python() {
  if ! command -v "${SPOTLAKE_PY}" >/dev/null 2>&1; then
    # shellcheck disable=SC2016  # the backticks are literal: the command to type
    printf 'error: Python interpreter %s not found; run `make venv` in %s or set SPOTLAKE_PYTHON\n' \
      "${SPOTLAKE_PY}" "${SPOTLAKE_ROOT}" >&2
    exit 2
  fi
  # utils/runtime.py prints the one line itself (what is missing, for which interpreter, and `make venv`).
  "${SPOTLAKE_PY}" "${SPOTLAKE_ROOT}/utils/runtime.py" || exit 2
}

# spotlake::run::final_verdict
# Cleanup: a run that failed before its summary still ends with one verdict line on stdout, with the causes.
spotlake::run::final_verdict() {
  local failure
  if ((SUMMARY_PRINTED || ${#FAILURES[@]} == 0)); then
    return 0
  fi
  printf 'SpotLake Azure run %s: FAILED\n' "${SLOT:-?}"
  for failure in "${FAILURES[@]}"; do
    printf '  cause: %s\n' "${failure}"
  done
}

# spotlake::run::preflight
# Exit 1 (one alert) when a sink prerequisite is missing; the message names it and how to create it.
spotlake::run::preflight() {
  local rc=0
  if [[ "${SETTING[STORE_KIND]}" != s3 && "${SETTING[TIMESERIES]}" != timestream && "${SETTING[METRICS]}" != cloudwatch ]]; then
    return 0  # only AWS sinks have prerequisites; local paths were checked with the settings
  fi
  "${SPOTLAKE_PY}" "${SPOTLAKE_ROOT}/scripts/settings_probe.py" preflight 2>"${WORK_DIR}/preflight.err" || rc=$?
  spotlake::log::prefix preflight <"${WORK_DIR}/preflight.err"
  if ((rc != 0)); then
    spotlake::run::fail "sink prerequisites missing: $(spotlake::run::last_message "${WORK_DIR}/preflight.err")"
    exit 1
  fi
}

# spotlake::run::last_message FILE
# The message of the last log line in FILE (after "LEVEL [component] name: "), or the whole last line.
spotlake::run::last_message() {
  local line
  line="$(grep -v '^[[:space:]]*$' "$1" | tail -n 1 || true)"
  line="${line#error: }"
  if [[ "${line}" =~ ^[0-9T:-]+\ [A-Z]+\ \[[^]]*\]\ [^:]*:\ (.*)$ ]]; then
    line="${BASH_REMATCH[1]}"
  fi
  printf '%s\n' "${line:-no message (see the log above)}"
}

# spotlake::run::resolve_slot [TIMESTAMP]
# Set SLOT to the canonical slot of TIMESTAMP (now when empty); exit 2 with usage when it is invalid.
spotlake::run::resolve_slot() {
  local timestamp="$1" message
  if ! SLOT="$("${SPOTLAKE_PY}" "${SPOTLAKE_ROOT}/scripts/settings_probe.py" slot "${timestamp}" 2>"${WORK_DIR}/slot.err")"; then
    message="$(cat "${WORK_DIR}/slot.err")"
    spotlake::util::usage_error "${message#error: }"
  fi
}

# spotlake::run::probe_settings
# Fill SETTING[] from scripts/settings_probe.py env; exit 2 with its message on a configuration error.
spotlake::run::probe_settings() {
  local output key value
  if ! output="$("${SPOTLAKE_PY}" "${SPOTLAKE_ROOT}/scripts/settings_probe.py" env 2>"${WORK_DIR}/env.err")"; then
    printf '%s\n' "$(cat "${WORK_DIR}/env.err")" >&2
    exit 2
  fi
  while IFS='=' read -r key value; do
    case "${key}" in
      STORE | STORE_KIND | EMULATOR_ENABLED | EMULATOR_URL | EMULATOR_CATALOG | SPS_KEY_FILE | LEASE_TTL | TIMESERIES | METRICS)
        SETTING[${key}]="${value}"
        ;;
      *) ;;  # a key this script does not use
    esac
  done <<<"${output}"
}

# spotlake::run::acquire_lease
# Take the "run" lease, recording this shell ($$) as the holder process, or exit 1 at once, naming the real
# cause run_lease.py gave: another run holds it (exit 1 says until when), or the store failed (exit 3; the
# reason names the store error such as NoSuchBucket or AccessDenied, never "another run").
spotlake::run::acquire_lease() {
  local rc=0 reason
  # Registered first: a signal that arrives while run_lease.py runs is handled once it returned, after the
  # holder id is assigned, so the EXIT trap releases a lease taken in that window too.
  spotlake::trap::add spotlake::run::release_lease
  LEASE_HOLDER="$("${SPOTLAKE_PY}" "${SPOTLAKE_ROOT}/scripts/run_lease.py" acquire --pid "$$" --slot "${SLOT}" \
    2>"${WORK_DIR}/lease.err")" || rc=$?
  spotlake::log::prefix lease <"${WORK_DIR}/lease.err"
  if ((rc != 0)); then
    LEASE_HOLDER=""
    reason="$(spotlake::run::last_message "${WORK_DIR}/lease.err")"
    if ((rc == 1)); then
      spotlake::run::fail "overlapping run refused: ${reason}"
    else
      spotlake::run::fail "the run lease could not be taken: ${reason}"
    fi
    exit 1
  fi
  spotlake::log::info "took the run lease for ${SETTING[LEASE_TTL]}s as ${LEASE_HOLDER}"
}

# spotlake::run::check_slot_order
# Set SLOT_STATUS; a late or replayed slot is bad input: exit 2 without an alert (nothing was collected).
spotlake::run::check_slot_order() {
  local rc=0
  SLOT_STATUS="$("${SPOTLAKE_PY}" "${SPOTLAKE_ROOT}/merge/slot_order.py" --timestamp "${SLOT}" 2>"${WORK_DIR}/slot_order.err")" || rc=$?
  spotlake::log::prefix slot_order <"${WORK_DIR}/slot_order.err"
  if ((rc == 2)); then
    ALERT_ARMED=0
    spotlake::log::error "run ${SLOT} refused: late and replayed slots are not collected (see above)"
    exit 2
  fi
  if ((rc != 0)); then
    spotlake::run::fail "the slot-order check failed (exit ${rc})"
    exit 1
  fi
}

# spotlake::run::release_lease
# Give the run lease back (cleanup; after every child has stopped, so nothing of this run still writes).
spotlake::run::release_lease() {
  if [[ -z "${LEASE_HOLDER}" ]]; then
    return 0  # not taken (refused, or the store failed)
  fi
  "${SPOTLAKE_PY}" "${SPOTLAKE_ROOT}/scripts/run_lease.py" release --holder "${LEASE_HOLDER}"
}

# spotlake::run::start_emulator
# Emulator mode without SPOTLAKE_EMULATOR_URL (docs/contract.md 4): start emulator/server.py (its defaults:
# 127.0.0.1, a free port) and export its URL to the children once it is ready. The start-up rules and timeout
# are emulator/launch.py's (emulator/README.md, "Launch"): its `wait` says when the server is ready or why it
# is not. This shell owns the server process: it starts it, has it stopped at exit and reaps it.
spotlake::run::start_emulator() {
  local url_file="${WORK_DIR}/emulator.url" ready="${WORK_DIR}/emulator.ready" err="${WORK_DIR}/emulator_wait.err"
  local waiter rc=0
  local -a args=(--url-file "${url_file}")
  if [[ -n "${SETTING[EMULATOR_CATALOG]}" ]]; then
    args+=(--catalog "${SETTING[EMULATOR_CATALOG]}")
  fi
  if [[ -n "${SPOTLAKE_EMULATOR_FAULTS:-}" ]]; then
    args+=(--faults "${SPOTLAKE_EMULATOR_FAULTS}")
  fi
  if [[ -n "${SPOTLAKE_EMULATOR_LATENCY_MS:-}" ]]; then
    args+=(--latency-ms "${SPOTLAKE_EMULATOR_LATENCY_MS}")
  fi
  spotlake::run::forking
  "${SPOTLAKE_PY}" "${SPOTLAKE_ROOT}/emulator/server.py" "${args[@]}" >/dev/null 2> >(spotlake::log::prefix emulator) &
  EMULATOR_PID=$!
  spotlake::trap::add spotlake::run::stop_emulator
  spotlake::run::forked
  # The waiter runs in the background, registered as a child, so a signal meanwhile is handled at once.
  spotlake::run::forking
  "${SPOTLAKE_PY}" "${SPOTLAKE_ROOT}/emulator/launch.py" wait --pid "${EMULATOR_PID}" --url-file "${url_file}" \
    >"${ready}" 2>"${err}" &
  waiter=$!
  RUNNING[${waiter}]="emulator_wait"
  spotlake::run::forked
  wait "${waiter}" || rc=$?
  unset "RUNNING[${waiter}]"
  spotlake::log::prefix emulator <"${err}"
  if ((rc != 0)); then
    spotlake::run::fail "$(spotlake::run::last_message "${err}")"
    exit 1
  fi
  IFS= read -r EMULATOR_URL <"${ready}"
  export SPOTLAKE_EMULATOR_URL="${EMULATOR_URL}"
  spotlake::log::info "started the Azure emulator at ${EMULATOR_URL} (pid ${EMULATOR_PID})"
}

# spotlake::run::stop_emulator
# Stop the emulator this run started (cleanup): emulator/launch.py stop (SIGTERM, its grace, SIGKILL), then
# reap it. Should that helper fail, SIGKILL: the emulator is never left running.
spotlake::run::stop_emulator() {
  if [[ -z "${EMULATOR_PID}" ]] || ! kill -0 "${EMULATOR_PID}" 2>/dev/null; then
    return 0
  fi
  "${SPOTLAKE_PY}" "${SPOTLAKE_ROOT}/emulator/launch.py" stop --pid "${EMULATOR_PID}" ||
    kill -KILL "${EMULATOR_PID}" 2>/dev/null || true  # gone already is fine
  wait "${EMULATOR_PID}" 2>/dev/null || true           # its exit status says nothing about the run
  spotlake::log::info "stopped the Azure emulator"
}

# spotlake::run::remove_work_dir
# Remove this run's scratch directory (cleanup).
spotlake::run::remove_work_dir() {
  rm -rf -- "${WORK_DIR}"
}

# spotlake::run::spawn NAME COMMAND...
# Start COMMAND in the background with stdout and stderr prefixed [NAME]; SPAWNED_PID is the command's own
# pid (the prefixer reads a FIFO, so it is neither the waited process nor part of its memory).
spotlake::run::spawn() {
  local name="$1" fifo="${WORK_DIR}/$1.fifo"
  shift
  rm -f -- "${fifo}"
  mkfifo -- "${fifo}"
  spotlake::log::prefix "${name}" <"${fifo}" &
  spotlake::run::forking
  "$@" >"${fifo}" 2>&1 &
  SPAWNED_PID=$!
  RUNNING[${SPAWNED_PID}]="${name}"
  spotlake::run::forked
}

# spotlake::run::record_phase PHASE START END EXIT_CODE
# Append one line to the timings file read by scripts/store_monitoring.py. START and END are
# $EPOCHREALTIME values, whose decimal separator follows the locale: written with a dot.
spotlake::run::record_phase() {
  printf '%s %s %s %s\n' "$1" "${2/,/.}" "${3/,/.}" "$4" >>"${WORK_DIR}/timings"
}

# spotlake::run::start_sampler COMPONENT=PID...
# Sample the memory of these processes (and their children) every 0.5 s into the run's memory CSV.
spotlake::run::start_sampler() {
  spotlake::run::spawn sampler "${SPOTLAKE_PY}" "${SPOTLAKE_ROOT}/scripts/sample_memory.py" \
    --out "${WORK_DIR}/memory.csv" "$@"
}

# spotlake::run::stop_sampler PID
# Stop the memory sampler once every process it samples has been reaped: SIGTERM, which it handles as a
# normal stop (ending its current sleep at once), then reap it. 143 is a sampler still starting up (killed
# before its handler was in place): it had nothing to sample, since its processes were already gone.
spotlake::run::stop_sampler() {
  local pid="$1" rc=0
  kill -TERM "${pid}" 2>/dev/null || true  # it may have stopped by itself already
  wait "${pid}" || rc=$?
  unset "RUNNING[${pid}]"
  if ((rc != 0 && rc != 143)); then
    # Memory samples are monitoring, not data: the run's outputs are complete without them.
    spotlake::log::warn "the memory sampler exited with ${rc}; peak memory may be incomplete"
  fi
}

# spotlake::run::collect
# Run the three collectors in parallel for SLOT, wait for each, and record each exit status and duration.
spotlake::run::collect() {
  local name pid rc finished sampler_pid
  local -A started=() name_of=()
  local -a targets=()
  for name in "${COLLECTORS[@]}"; do
    started[${name}]="${EPOCHREALTIME}"
    spotlake::run::spawn "${name}" "${SPOTLAKE_PY}" "${SPOTLAKE_ROOT}/${name}/collect_${name}.py" --timestamp "${SLOT}"
    name_of[${SPAWNED_PID}]="${name}"
    targets+=("${name}=${SPAWNED_PID}")
    spotlake::log::info "started collector ${name} (pid ${SPAWNED_PID})"
  done
  spotlake::run::start_sampler "${targets[@]}"
  sampler_pid="${SPAWNED_PID}"
  while ((${#name_of[@]} > 0)); do
    rc=0
    finished=""
    wait -n -p finished "${!name_of[@]}" || rc=$?
    if [[ -z "${finished}" ]]; then
      spotlake::run::fail "lost track of the collectors (wait returned ${rc} without a pid)"
      exit 1
    fi
    name="${name_of[${finished}]}"
    unset "name_of[${finished}]" "RUNNING[${finished}]"
    STATUS[${name}]="${rc}"
    spotlake::run::record_phase "collect_${name}" "${started[${name}]}" "${EPOCHREALTIME}" "${rc}"
    if ((rc == 0)); then
      spotlake::log::info "collector ${name} succeeded"
    else
      spotlake::run::fail "collector ${name} exited with ${rc}"
    fi
  done
  spotlake::run::stop_sampler "${sampler_pid}"
}

# spotlake::run::merge_allowed
# The explicit merge decision (see the header): true when the SPS collector succeeded.
spotlake::run::merge_allowed() {
  if [[ "${STATUS[sps]}" != 0 ]]; then
    spotlake::log::warn "merge skipped: the SPS collector failed, so this slot has no SPS data to merge"
    return 1
  fi
  if [[ "${STATUS[price]}" != 0 || "${STATUS[if]}" != 0 ]]; then
    spotlake::log::warn "price or IF collector failed; the merge runs and falls back to an earlier raw dataset" \
      "(<= 24 h) or fails; the run exits 1 either way"
  fi
  return 0
}

# spotlake::run::merge [--stored]
# Check the SPS handoff key names this slot's raw object, then run the merge and record its status.
# --stored: merge the slot's stored raw data (a committed slot, nothing collected), found by its timestamp.
spotlake::run::merge() {
  local key started rc=0 pid sampler_pid
  local -a target=(--timestamp "${SLOT}")
  if [[ "${1:-}" != --stored ]]; then
    # The private handoff is checked (this slot, in this store) and copied to SPS_KEY_FILE for standalone use.
    if ! key="$("${SPOTLAKE_PY}" "${SPOTLAKE_ROOT}/scripts/settings_probe.py" sps-key --slot "${SLOT}" \
      --handoff "${HANDOFF}" --publish "${SETTING[SPS_KEY_FILE]}" 2>"${WORK_DIR}/handoff.err")"; then
      STATUS[merge]="skipped"
      spotlake::log::prefix handoff <"${WORK_DIR}/handoff.err"
      spotlake::run::fail "merge skipped: $(spotlake::run::last_message "${WORK_DIR}/handoff.err")"
      return 0
    fi
    target=(--sps_key "${key}")
  fi
  spotlake::log::info "merging ${target[*]}"
  started="${EPOCHREALTIME}"
  spotlake::run::spawn merge "${SPOTLAKE_PY}" "${SPOTLAKE_ROOT}/merge/merge_data.py" "${target[@]}"
  pid="${SPAWNED_PID}"
  spotlake::run::start_sampler "merge=${pid}"
  sampler_pid="${SPAWNED_PID}"
  wait "${pid}" || rc=$?
  unset "RUNNING[${pid}]"
  STATUS[merge]="${rc}"
  spotlake::run::record_phase merge "${started}" "${EPOCHREALTIME}" "${rc}"
  spotlake::run::stop_sampler "${sampler_pid}"
  if ((rc == 0)); then
    spotlake::log::info "merge succeeded"
  else
    spotlake::run::fail "merge exited with ${rc}"
  fi
}

# spotlake::run::store_monitoring
# Store durations, memory samples and the instance type under rawdata/azure/monitoring (docs/contract.md 5).
spotlake::run::store_monitoring() {
  local rc=0
  "${SPOTLAKE_PY}" "${SPOTLAKE_ROOT}/scripts/store_monitoring.py" --slot "${SLOT}" \
    --timings "${WORK_DIR}/timings" --memory "${WORK_DIR}/memory.csv" || rc=$?
  if ((rc != 0)); then
    spotlake::run::fail "storing the monitoring objects failed (exit ${rc})"
  fi
}

# spotlake::run::summary
# Print where the outputs are and a short summary on stdout.
spotlake::run::summary() {
  local name failure
  local -a args=(--slot "${SLOT}")
  for name in "${COLLECTORS[@]}" merge; do
    args+=(--status "${name}=${STATUS[${name}]:-not run}")
  done
  # The verdict is the exit code: OK exactly when nothing failed, else FAILED with every cause.
  for failure in "${FAILURES[@]}"; do
    args+=(--failure "${failure}")
  done
  if [[ -n "${EMULATOR_URL}" ]]; then
    args+=(--emulator-url "${EMULATOR_URL}")
  fi
  # The summary only reads what the run stored; the outcome is already decided, so it cannot change it.
  if "${SPOTLAKE_PY}" "${SPOTLAKE_ROOT}/scripts/run_summary.py" "${args[@]}"; then
    SUMMARY_PRINTED=1
  else
    spotlake::log::warn "the run summary could not be printed"
  fi
}

# spotlake::run::main [TIMESTAMP]
spotlake::run::main() {
  local run_started name
  case "${1:-}" in
    -h | --help)
      spotlake::util::usage
      exit 0
      ;;
    -*) spotlake::util::usage_error "unknown option $1" ;;
    *) ;;
  esac
  if (($# > 1)); then
    spotlake::util::usage_error "expected at most one argument (TIMESTAMP), got $#"
  fi
  spotlake::run::check_python
  run_started="${EPOCHREALTIME}"
  WORK_DIR="$(mktemp -d "${TMPDIR:-/tmp}/spotlake-run.XXXXXX")"
  trap spotlake::run::on_exit EXIT
  trap 'spotlake::run::on_signal TERM' TERM
  trap 'spotlake::run::on_signal INT' INT
  trap 'spotlake::run::on_signal HUP' HUP
  spotlake::trap::add spotlake::run::remove_work_dir
  export PYTHONPATH="${SPOTLAKE_ROOT}${PYTHONPATH:+:${PYTHONPATH}}"

  spotlake::run::resolve_slot "${1:-}"
  spotlake::run::probe_settings
  ALERT_ARMED=1
  # From here the run sends the one alert; its helpers and children only log (docs/contract.md 8: one alert).
  export SPOTLAKE_ALERT_OWNER=orchestrator
  spotlake::trap::add spotlake::run::final_verdict
  spotlake::log::info "run ${SLOT}: store ${SETTING[STORE]}, time series ${SETTING[TIMESERIES]}," \
    "metrics ${SETTING[METRICS]}, emulator ${SETTING[EMULATOR_ENABLED]}"
  spotlake::run::preflight
  spotlake::run::acquire_lease
  spotlake::run::check_slot_order
  if [[ "${SLOT_STATUS}" == committed ]]; then
    :  # nothing is collected: no emulator needed
  elif [[ "${SETTING[EMULATOR_ENABLED]}" == 1 && -z "${SETTING[EMULATOR_URL]}" ]]; then
    spotlake::run::start_emulator
  elif [[ "${SETTING[EMULATOR_ENABLED]}" == 1 ]]; then
    EMULATOR_URL="${SETTING[EMULATOR_URL]}"
  fi

  # A private handoff (fresh, in this run's scratch directory): another run on this host, for another store
  # or not, can neither remove nor replace it. SETTING[SPS_KEY_FILE] gets the checked key after the sweep.
  HANDOFF="${WORK_DIR}/sps_key.txt"
  export SPS_KEY_FILE="${HANDOFF}"

  if [[ "${SLOT_STATUS}" == committed ]]; then
    spotlake::log::info "slot ${SLOT} is already committed: re-publishing it from its stored raw data, collecting nothing"
    for name in "${COLLECTORS[@]}"; do
      STATUS[${name}]="skipped"
    done
    spotlake::run::merge --stored
  else
    spotlake::run::collect
    if spotlake::run::merge_allowed; then
      spotlake::run::merge
    else
      STATUS[merge]="skipped"
    fi
  fi
  spotlake::run::record_phase total "${run_started}" "${EPOCHREALTIME}" "$((${#FAILURES[@]} > 0 ? 1 : 0))"
  spotlake::run::store_monitoring
  spotlake::run::summary
  if ((${#FAILURES[@]} > 0)); then
    spotlake::log::error "run ${SLOT} failed: ${#FAILURES[@]} failure(s)"
    exit 1
  fi
  spotlake::log::info "run ${SLOT} succeeded"
}

spotlake::run::main "$@"

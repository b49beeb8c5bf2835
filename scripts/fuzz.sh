#!/usr/bin/env bash
# Builds the libFuzzer driver and runs fuzz targets (docs/fuzzing.md).
#
#   scripts/fuzz.sh [--seconds N] [--jobs J] [TARGET...]
#
# Each target runs for N seconds (default 60) on its committed seed corpus
# (Tests/Fuzz/corpus/TARGET, read-only) plus a scratch corpus under $LIENTHONG_FUZZ_WORK
# (default .build/fuzz-work) where libFuzzer keeps the new inputs it finds. J targets run at a time
# (default: the number of cores). Any crash, leak, timeout or broken property fails the script and
# leaves the input that caused it in the work directory as crash-*, timeout-* or oom-*.
# Set LIENTHONG_FUZZ_SCRATCH to build in another folder than .build.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=60
jobs=$(nproc)
targets=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --seconds) seconds="$2"; shift 2 ;;
    --jobs) jobs="$2"; shift 2 ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    -*) echo "fuzz.sh: unknown option $1" >&2; exit 2 ;;
    *) targets+=("$1"); shift ;;
  esac
done
if [[ ${#targets[@]} -eq 0 ]]; then
  targets=(identifiers client-request jws record globalconf evidence checkpoint)
fi

scratch=()
if [[ -n "${LIENTHONG_FUZZ_SCRATCH:-}" ]]; then scratch=(--scratch-path "$LIENTHONG_FUZZ_SCRATCH"); fi
echo "== building lienthong-fuzz (libFuzzer instrumentation on LienThong's modules)"
LIENTHONG_FUZZ=1 swift build --product lienthong-fuzz "${scratch[@]}"
bin="$(LIENTHONG_FUZZ=1 swift build --product lienthong-fuzz "${scratch[@]}" --show-bin-path)/lienthong-fuzz"

# Swift's crash backtracer would take SIGILL/SIGTRAP/SIGABRT/SIGSEGV before libFuzzer, which then
# writes no crash-* reproducer and no final stats; turn it off (libFuzzer's children inherit this).
export SWIFT_BACKTRACE=enable=no

work="${LIENTHONG_FUZZ_WORK:-.build/fuzz-work}"
mkdir -p "$work"
work="$(cd "$work" && pwd)"

run_target() {
  local target="$1" dir="$work/$1"
  mkdir -p "$dir/corpus"
  # The committed seeds come second: libFuzzer reads both and writes new inputs only to the first.
  "$bin" "$target" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$dir/" "$dir/corpus" "Tests/Fuzz/corpus/$target" > "$dir/log" 2>&1
}

pids=()
names=()
failed=0
for target in "${targets[@]}"; do
  if [[ ! -d "Tests/Fuzz/corpus/$target" ]]; then echo "fuzz.sh: no seed corpus for $target" >&2; exit 2; fi
  while [[ $(jobs -rp | wc -l) -ge $jobs ]]; do sleep 1; done
  echo "== fuzzing $target for ${seconds}s"
  run_target "$target" &
  pids+=($!)
  names+=("$target")
done

printf '\n%-16s %12s %10s %8s %s\n' target executions exec/s new result
for i in "${!pids[@]}"; do
  target="${names[$i]}"
  log="$work/$target/log"
  if wait "${pids[$i]}"; then result=ok; else result=FAILED; failed=1; fi
  runs=$( (grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" || true) | awk '{print $2}' | tail -1)
  speed=$( (grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" || true) | awk '{print $2}' | tail -1)
  corpus=$(find "$work/$target/corpus" -type f | wc -l)
  printf '%-16s %12s %10s %8s %s\n' "$target" "${runs:-?}" "${speed:-?}" "$corpus" "$result"
  if [[ $result != ok ]]; then
    echo "---- $target: last lines of $log"
    tail -40 "$log"
  fi
done
exit $failed

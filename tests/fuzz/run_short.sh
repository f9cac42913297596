#!/bin/sh
# Runs transform_fuzzer over the seeds, the regression inputs and the Eventbrite fixtures, then
# for a fixed number of mutations with a fixed seed. New corpus entries go to a temporary
# directory that is removed on exit, so the source tree is never written. A crashing input is
# saved as crash-<sha1> in the directory the script was started from.
# Usage: run_short.sh FUZZER FUZZ_SOURCE_DIR FIXTURES_DIR [RUNS]
set -eu
fuzzer=$(realpath "$1")
fuzz_dir=$2
fixtures=$3
runs=${4:-10000}
shift $#

work=$(mktemp -d "${TMPDIR:-/tmp}/transform_fuzzer.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM

# Regression inputs first, one by one, so a failure names the file.
for input in "$fuzz_dir"/regressions/*; do
    [ -f "$input" ] || continue
    "$fuzzer" -dict="$fuzz_dir/eventbrite.dict" "$input"
done

# libFuzzer rejects a corpus directory that does not exist, and git keeps no empty folder.
set -- "$work" "$fuzz_dir/seeds" "$fixtures"
if [ -d "$fuzz_dir/regressions" ]; then
    set -- "$@" "$fuzz_dir/regressions"
fi

artifacts=$(pwd)
cd "$work"
"$fuzzer" -seed=1 -runs="$runs" -max_len=65536 -timeout=20 -rss_limit_mb=4096 \
    -dict="$fuzz_dir/eventbrite.dict" -artifact_prefix="$artifacts/" \
    "$@"

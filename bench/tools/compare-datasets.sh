#!/usr/bin/env bash
# Compares a single-process sweep (DuckDB file) with Spark datasets, key by key: prints, for each dataset, the rows
# compared, the rows with equal values, and the largest difference.
# Usage: bench/tools/compare-datasets.sh ROOT SWEEP.duckdb DATASET_DIR...
set -euo pipefail
root=$1; db=$2; shift 2
. "$root/.mvn/find-jdk.sh"
java=$(headscan_find_jdk)/bin/java
cp="$root/target/headscan.jar:$root/target/lib/duckdb"
"$java" --enable-native-access=ALL-UNNAMED -cp "$cp" "$root/bench/tools/CompareDatasets.java" "$db" "$@"

#!/usr/bin/env bash
# Build time of object_store's two TLS/crypto choices, from scratch with
# two jobs, for docs/PERFORMANCE.md: 0.12.x (reqwest 0.12, rustls + ring:
# the reqwest larder already has) against 0.14.x (reqwest 0.13, rustls +
# aws-lc-rs), both with the aws, gcp, azure, http and fs features.
# Usage: benches/object_store_build.sh   (needs crates.io; takes minutes)
set -euo pipefail
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for version in 0.12.5 0.14.2; do
  dir=$work/probe-$version
  mkdir -p "$dir/src"
  echo 'fn main() {}' > "$dir/src/main.rs"
  cat > "$dir/Cargo.toml" <<TOML
[package]
name = "probe"
version = "0.1.0"
edition = "2024"
[dependencies]
object_store = { version = "=$version", default-features = false, features = ["aws", "gcp", "azure", "http", "fs"] }
TOML
  (cd "$dir" && cargo fetch -q)
  start=$(date +%s.%N)
  (cd "$dir" && cargo build -j2 -q)
  end=$(date +%s.%N)
  echo "object_store $version: $(awk -v s="$start" -v e="$end" 'BEGIN {printf "%.0f", e-s}') s"
done

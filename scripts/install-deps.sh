#!/usr/bin/env bash
# Installs the system packages a purpose needs, when missing: "test" or "bench".
# As root it uses apt-get; otherwise it says what to install.
set -euo pipefail
# Each entry is COMMAND:DEBIAN_PACKAGE; py/MODULE:DEBIAN_PACKAGE is a module of Debian's python3.
case "${1:-test}" in
  test)  need=(bash:bash kill:procps awk:mawk redis-server:redis-server openssl:openssl) ;;
  bench) need=(bash:bash parallel:parallel time:time awk:mawk redis-server:redis-server
               py/celery:python3-celery py/redis:python3-redis py/distributed:python3-distributed) ;;
  *) echo "usage: install-deps.sh test|bench" >&2; exit 2 ;;
esac
# `time` is also a shell keyword, so look for GNU time's binary itself.
present() {
  case "$1" in
    time) [ -x /usr/bin/time ] ;;
    redis-server) [ -x /usr/bin/redis-server ] || [ -x /usr/local/bin/redis-server ] ;;
    # The Debian packages install into /usr/bin/python3, which may not be the first python3 on PATH.
    py/*) [ -x /usr/bin/python3 ] && /usr/bin/python3 -c "import ${1#py/}" >/dev/null 2>&1 ;;
    *) command -v "$1" >/dev/null 2>&1 ;;
  esac
}
missing=()
for entry in "${need[@]}"; do present "${entry%%:*}" || missing+=("${entry#*:}"); done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
else
  echo "install-deps: please install: ${missing[*]}" >&2
  exit 1
fi

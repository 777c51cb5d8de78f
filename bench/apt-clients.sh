#!/usr/bin/env bash
# Many `apt-get update` clients at once against `wharf server` while the repository is
# being published again and again. See docs/benchmarks.md for the last results.
#
#   bash bench/apt-clients.sh                       # build this checkout (release), 500 clients
#   WHARF=/tmp/old/wharf bash bench/apt-clients.sh  # another build
#   CLIENTS=100 PACKAGES=200 bash bench/apt-clients.sh
#
# A repository of PACKAGES small packages is published and served; CLIENTS private apt
# roots (DESIGN.md's recipe: nothing touches the host's packages) each run one
# `apt-get update` against it, all started together, while a loop adds a package and
# publishes, over and over, until the last client is done. A client fails when apt-get
# exits non-zero or prints a warning or an error (`W:`/`E:` — a hash sum mismatch, a bad
# signature, a failed fetch). Target (issue 11): 0 failed clients.
#
# Never run as a test: it starts hundreds of processes and takes a minute or two.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO_ROOT=$PWD
CLIENTS=${CLIENTS:-500}
PACKAGES=${PACKAGES:-2000}

need=()
command -v curl >/dev/null || need+=(curl)
command -v bc >/dev/null || need+=(bc)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing ${need[*]}" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
if [ -z "${WHARF:-}" ]; then
  echo "building wharf (release)" >&2
  cargo build --release --locked -p wharf -q
  WHARF="${CARGO_TARGET_DIR:-$REPO_ROOT/target}/release/wharf"
fi

WORK=$(mktemp -d /tmp/wharf-bench-aptc.XXXXXX)
chmod 755 "$WORK"
wharf_pid= publisher_pid=
cleanup() {
  [ -n "$publisher_pid" ] && kill "$publisher_pid" 2>/dev/null
  [ -n "$wharf_pid" ] && kill "$wharf_pid" 2>/dev/null
  wait 2>/dev/null
  if [ "${KEEP:-0}" = 1 ]; then echo "kept $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
now() { date +%s.%N; }

python3 "$REPO_ROOT/bench/gen-debs.py" "$WORK/debs" "$PACKAGES" >/dev/null
W="$WORK/data"
export WHARF_SYSTEM_CONFIG="$WORK/none.toml"
"$WHARF" --data "$W" repo create b --distribution bookworm --architectures amd64 >/dev/null
"$WHARF" --data "$W" repo add b "$WORK/debs" >/dev/null
"$WHARF" --data "$W" publish b >/dev/null
"$WHARF" --data "$W" key export >"$WORK/wharf.asc"
chmod 644 "$WORK/wharf.asc"

"$WHARF" --data "$W" server --listen 127.0.0.1:0 >"$WORK/server.out" 2>"$WORK/server.log" &
wharf_pid=$!
url=
for _ in $(seq 100); do # bounded readiness poll: at most 10 s
  url=$(sed -n 's/^listening on //p' "$WORK/server.out")
  [ -n "$url" ] && curl -fsS -o /dev/null "$url/healthz" 2>/dev/null && break
  url=
  sleep 0.1
done
[ -n "$url" ] || { echo "wharf server never answered; its log:" >&2; cat "$WORK/server.log" >&2; exit 1; }

echo "preparing $CLIENTS apt roots" >&2
for idx in $(seq "$CLIENTS"); do
  root="$WORK/roots/$idx"
  mkdir -p "$root"/etc/apt/{sources.list.d,preferences.d,apt.conf.d,trusted.gpg.d} \
    "$root"/var/lib/apt/lists/partial "$root"/var/cache/apt/archives/partial \
    "$root"/var/lib/dpkg/{info,updates} "$root"/var/log/apt
  : >"$root/var/lib/dpkg/status"
  echo "deb [signed-by=$WORK/wharf.asc] $url/apt/b bookworm main" >"$root/etc/apt/sources.list"
done

client() { # client IDX: one apt-get update in root IDX; writes its seconds and exit code
  local root="$WORK/roots/$1" start code=0
  start=$(now)
  apt-get -q -oDir="$root" -oDir::State::status="$root/var/lib/dpkg/status" \
    -oDebug::NoLocking=1 -oAPT::Sandbox::User=root \
    -oAcquire::Check-Valid-Until=true -oAcquire::Check-Date=true \
    -oDir::Etc::TrustedParts="$root/etc/apt/trusted.gpg.d" \
    update >"$root/update.log" 2>&1 || code=$?
  if [ "$code" = 0 ] && grep -q '^[WE]:' "$root/update.log"; then code=warn; fi
  echo "$(echo "$(now) - $start" | bc -l) $code" >"$root/result"
}

# Publishes until told to stop: add one new package, publish, again.
publisher() {
  local n=0
  while [ ! -e "$WORK/stop" ]; do
    n=$((n + 1))
    python3 "$REPO_ROOT/bench/gen-debs.py" "$WORK/new$n" 1 "new$n" >/dev/null 2>&1
    "$WHARF" --data "$W" repo add b "$WORK/new$n" >/dev/null
    "$WHARF" --data "$W" publish b >/dev/null
    echo "$n" >"$WORK/published"
  done
}
echo 0 >"$WORK/published"
publisher &
publisher_pid=$!

echo "starting $CLIENTS apt-get update clients during publishes" >&2
start=$(now)
pids=()
for idx in $(seq "$CLIENTS"); do
  client "$idx" &
  pids+=($!)
done
wait "${pids[@]}"
wall=$(echo "$(now) - $start" | bc -l)
touch "$WORK/stop"
wait "$publisher_pid" || { echo "the publish loop failed" >&2; exit 1; }
publisher_pid=

failed=0
for idx in $(seq "$CLIENTS"); do
  read -r _ code <"$WORK/roots/$idx/result"
  if [ "$code" != 0 ]; then
    failed=$((failed + 1))
    [ "$failed" -le 3 ] && { echo "client $idx failed ($code):" >&2; grep '^[WE]:' "$WORK/roots/$idx/update.log" | head -3 >&2; }
  fi
done
stats=$(cat "$WORK"/roots/*/result | awk '{ print $1 }' | sort -g | awk '{ v[NR] = $1 } END { printf "%.2f %.2f %.2f", v[int(NR / 2) + 1], v[int(NR * 0.99)], v[NR] }')
read -r p50 p99 slowest <<<"$stats"
published=$(cat "$WORK/published")
server_errors=$(grep -c ' ERROR ' "$WORK/server.log" || true)

echo "$CLIENTS concurrent apt-get update clients, $PACKAGES packages, $("$WHARF" --version 2>/dev/null | head -1), $(nproc) cores"
echo
echo "| clients | failed | publishes during the run | wall s | client p50 s | p99 s | slowest s | server errors logged |"
echo "|---|---|---|---|---|---|---|---|"
printf '| %s | %s | %s | %.1f | %s | %s | %s | %s |\n' "$CLIENTS" "$failed" "$published" "$wall" "$p50" "$p99" "$slowest" "$server_errors"
[ "$failed" = 0 ]

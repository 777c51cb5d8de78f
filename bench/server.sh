#!/usr/bin/env bash
# HTTP serving: `wrk` against `wharf server` and nginx serving the same published tree, side
# by side on this machine, one run each. See docs/benchmarks.md for the last results.
#
#   bash bench/server.sh                        # build this checkout (release) and measure it
#   WHARF=/tmp/old/wharf bash bench/server.sh   # another build (before/after comparisons)
#   DURATION=5s CONNECTIONS=50 bash bench/server.sh
#
# For an ~800-byte pool file and InRelease: requests/s and p99 from Wharf and from nginx
# (Debian's, started here on 127.0.0.1 with its own config, `worker_processes auto`,
# sendfile, access log off), and Wharf's share of nginx's rate (target: at least 80%).
# Plus Wharf alone: GET /healthz; GET /api/v1/deploys with a viewer token at API_CONNECTIONS
# (200) connections on a store of DEPLOYS (10,000) deploys written by seed-deploys.py, the
# default page and ?limit=100 (target: p99 under 20 ms); the first /metrics scrape and the slowest of the next 5.
# 500 apt-get clients during publishes: bench/apt-clients.sh.
# A keep-alive check first: 20 requests on one connection with curl, the slowest timed.
#
# Never run as a test: it installs packages (wrk, nginx) and takes about two minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO_ROOT=$PWD
DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-50}
THREADS=${THREADS:-2}
API_CONNECTIONS=${API_CONNECTIONS:-200}
DEPLOYS=${DEPLOYS:-10000}

need=()
command -v wrk >/dev/null || need+=(wrk)
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || need+=(nginx)
command -v curl >/dev/null || need+=(curl)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing ${need[*]}" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

if [ -z "${WHARF:-}" ]; then
  echo "building wharf (release)" >&2
  cargo build --release --locked -p wharf -q
  WHARF="${CARGO_TARGET_DIR:-$REPO_ROOT/target}/release/wharf"
fi

WORK=$(mktemp -d /tmp/wharf-bench-server.XXXXXX)
chmod 755 "$WORK"
wharf_pid= nginx_pid=
cleanup() {
  [ -n "$wharf_pid" ] && kill "$wharf_pid" 2>/dev/null
  [ -n "$nginx_pid" ] && kill "$nginx_pid" 2>/dev/null
  wait 2>/dev/null
  if [ "${KEEP:-0}" = 1 ]; then echo "kept $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_http() { # bounded readiness poll: at most 10 s
  for _ in $(seq 100); do
    curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "$1 never answered" >&2
  exit 1
}

# One repository of 20 small packages (~700–800 bytes each), published into the data
# directory (what `wharf server` serves) and as a plain tree for nginx (`--to-dir`, with
# the data directory's `dists/`).
python3 "$REPO_ROOT/bench/gen-debs.py" "$WORK/debs" 20 >/dev/null
W="$WORK/data"
export WHARF_SYSTEM_CONFIG="$WORK/none.toml"
"$WHARF" --data "$W" repo create b --distribution bookworm --architectures amd64 >/dev/null
"$WHARF" --data "$W" repo add b "$WORK/debs" >/dev/null
"$WHARF" --data "$W" publish b >/dev/null
# The API's store: DEPLOYS finished deploys (written straight into the store: running
# that many would take hours) and a viewer token.
python3 "$REPO_ROOT/bench/seed-deploys.py" "$W/wharf.db" "$DEPLOYS" >/dev/null
TOKEN=$("$WHARF" --data "$W" token create bench --role viewer --json | python3 -c 'import json, sys; print(json.load(sys.stdin)["token"])')
mkdir -p "$WORK/www/apt"
"$WHARF" --data "$W" publish b --to-dir "$WORK/www/apt/b" >/dev/null
# The same signed indices byte for byte (a second publish would sign a new Date).
rm -rf "$WORK/www/apt/b/dists"
cp -r "$W/public/b/dists" "$WORK/www/apt/b/dists"
POOL=$(cd "$WORK/www" && find apt/b/pool -name '*.deb' | sort | head -1)
POOL_BYTES=$(stat -c %s "$WORK/www/$POOL")
INRELEASE=apt/b/dists/bookworm/InRelease

wharf_port=$(free_port)
"$WHARF" --data "$W" server --listen "127.0.0.1:$wharf_port" >"$WORK/wharf.out" 2>"$WORK/wharf.log" &
wharf_pid=$!
wait_http "http://127.0.0.1:$wharf_port/healthz"

nginx_port=$(free_port)
cat >"$WORK/nginx.conf" <<EOF
user root;
daemon off;
worker_processes auto;
pid $WORK/nginx.pid;
error_log $WORK/nginx-error.log;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 100000;
  default_type application/octet-stream;
  client_body_temp_path $WORK/nginx-tmp;
  proxy_temp_path $WORK/nginx-tmp;
  fastcgi_temp_path $WORK/nginx-tmp;
  uwsgi_temp_path $WORK/nginx-tmp;
  scgi_temp_path $WORK/nginx-tmp;
  server {
    listen 127.0.0.1:$nginx_port;
    root $WORK/www;
  }
}
EOF
mkdir -p "$WORK/nginx-tmp"
"$NGINX" -c "$WORK/nginx.conf" -e "$WORK/nginx-error.log" &
nginx_pid=$!
wait_http "http://127.0.0.1:$nginx_port/$INRELEASE"

# Both serve the same bytes.
for path in "$POOL" "$INRELEASE"; do
  cmp -s <(curl -fsS "http://127.0.0.1:$wharf_port/$path") <(curl -fsS "http://127.0.0.1:$nginx_port/$path") \
    || { echo "wharf and nginx differ on /$path" >&2; exit 1; }
done

# The keep-alive stall of issue 11: 20 requests on one connection, the slowest after the
# first. (Linux ACKs the first segments of a connection at once, so a stall of Nagle's
# algorithm meeting the client's delayed ACK may only show after a few requests.)
urls=()
for _ in $(seq 20); do urls+=("http://127.0.0.1:$wharf_port/$POOL" -o /dev/null); done
slowest=$(curl -fsS -w '%{time_total}\n' "${urls[@]}" | tail -n +2 | sort -g | tail -1)
echo "keep-alive: slowest of requests 2-20 on one connection: $(awk -v t="$slowest" 'BEGIN { printf "%.1f", t * 1000 }') ms" >&2

# measure NAME URL [WRK OPTION…] → "requests/s p99_ms non2xx"
measure() {
  local out="$WORK/wrk.$1" url=$2
  shift 2
  wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "$@" "$url" >"$out" 2>&1
  local rps p99 non2xx
  rps=$(awk '/^Requests\/sec:/ { print $2 }' "$out")
  p99=$(awk '$1 == "99%" { v = $2; if (v ~ /us$/) { sub(/us$/, "", v); v /= 1000 } else if (v ~ /ms$/) { sub(/ms$/, "", v) } else if (v ~ /s$/) { sub(/s$/, "", v); v *= 1000 } printf "%.2f", v }' "$out")
  non2xx=$(awk '/Non-2xx or 3xx responses:/ { print $5 }' "$out")
  echo "${rps:-0} ${p99:-?} ${non2xx:-0}"
}

rows=()
for target in "pool file ($POOL_BYTES bytes)|$POOL" "InRelease|$INRELEASE"; do
  name=${target%%|*} path=${target#*|}
  read -r w_rps w_p99 w_bad < <(measure "wharf.${path//\//_}" "http://127.0.0.1:$wharf_port/$path")
  read -r n_rps n_p99 n_bad < <(measure "nginx.${path//\//_}" "http://127.0.0.1:$nginx_port/$path")
  ratio=$(awk -v w="$w_rps" -v n="$n_rps" 'BEGIN { if (n > 0) printf "%.0f%%", 100 * w / n; else print "?" }')
  rows+=("| $name | $(printf '%.0f' "$w_rps") | $w_p99 | $(printf '%.0f' "$n_rps") | $n_p99 | $ratio |")
  [ "$w_bad" = 0 ] && [ "$n_bad" = 0 ] || echo "  $name: non-2xx answers: wharf $w_bad, nginx $n_bad" >&2
done
read -r h_rps h_p99 _ < <(measure wharf.healthz "http://127.0.0.1:$wharf_port/healthz")
rows+=("| \`/healthz\` | $(printf '%.0f' "$h_rps") | $h_p99 | – | – | – |")
# The API at API_CONNECTIONS connections, with a token, on a store of DEPLOYS deploys:
# the default page (the newest 20) and a page of 100.
auth=(-H "Authorization: Bearer $TOKEN")
api_status=$(curl -s -o /dev/null -w '%{http_code}' "${auth[@]}" "http://127.0.0.1:$wharf_port/api/v1/deploys")
if [ "$api_status" = 200 ]; then
  for query in "" "?limit=100"; do
    read -r a_rps a_p99 a_bad < <(CONNECTIONS=$API_CONNECTIONS measure "wharf.api$query" "http://127.0.0.1:$wharf_port/api/v1/deploys$query" "${auth[@]}")
    rows+=("| \`GET /api/v1/deploys$query\` ($DEPLOYS deploys, -c$API_CONNECTIONS) | $(printf '%.0f' "$a_rps") | $a_p99 | – | – | – |")
    [ "$a_bad" = 0 ] || echo "  /api/v1/deploys$query: non-2xx answers: $a_bad" >&2
  done
else
  echo "GET /api/v1/deploys answers $api_status with a viewer token: not measured" >&2
fi
# Prometheus scrapes of /metrics on that store, one at a time: the first, then the
# slowest of the next 5 (a scrape may keep what it read for the next one).
scrapes=$(for _ in 1 2 3 4 5 6; do curl -fsS -o /dev/null -w '%{time_total}\n' "http://127.0.0.1:$wharf_port/metrics"; done)
ms() { awk -v t="$1" 'BEGIN { printf "%.1f", t * 1000 }'; }
first=$(echo "$scrapes" | head -1)
later=$(echo "$scrapes" | tail -n +2 | sort -g | tail -1)
rows+=("| \`/metrics\` ($DEPLOYS deploys): first scrape, slowest of the next 5, ms | – | $(ms "$first") / $(ms "$later") | – | – | – |")

echo "wrk -t$THREADS -c$CONNECTIONS (API: -c$API_CONNECTIONS) -d$DURATION, $("$WHARF" --version 2>/dev/null | head -1), $(nproc) cores"
echo
echo "| request | wharf req/s | wharf p99 ms | nginx req/s | nginx p99 ms | wharf / nginx |"
echo "|---|---|---|---|---|---|"
printf '%s\n' "${rows[@]}"

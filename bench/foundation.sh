#!/usr/bin/env bash
# Foundation benchmark: node sets and version sorting, Wharf beside the tools operators use
# today (ClusterShell's `nodeset`, `sort -V`), on this machine, in one run.
# Usage: bash bench/foundation.sh   (builds wharf in release mode; needs clustershell)
set -euo pipefail
cd "$(dirname "$0")/.."
command -v nodeset >/dev/null || { echo "install Debian package clustershell" >&2; exit 2; }
cargo build --release --quiet -p wharf
WHARF=$PWD/target/release/wharf
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT

# seconds, peak RSS in MiB of one command
measure() {
  /usr/bin/time -f '%e %M' -o "$work/time" "$@" >"$work/out" 2>/dev/null
  awk '{ printf "%.3f %.1f", $1, $2 / 1024 }' "$work/time"
}
row() { # name wharf-cmd other-cmd
  local name=$1 w o
  w=$(measure bash -c "$2"); o=$(measure bash -c "$3")
  awk -v n="$name" -v w="$w" -v o="$o" 'BEGIN {
    split(w, a, " "); split(o, b, " ");
    printf "| %s | %.3f s, %.1f MiB | %.3f s, %.1f MiB | %.1f× |\n", n, a[1], a[2], b[1], b[2], (a[1] > 0 ? b[1] / a[1] : 0) }'
}

# 100,000 names in 2 dimensions, listed one by one, folded back into an expression.
python3 -c 'print("\n".join(f"rack{r:02d}-node{n:04d}" for r in range(1, 26) for n in range(1, 4001)))' >"$work/names"
# 20,000 real versions from this machine's apt lists (apt-get update first).
apt-cache dumpavail | sed -n 's/^Version: //p' | awk 'NR <= 20000' >"$work/versions"

echo "| task | wharf | other | other / wharf |"
echo "|---|---|---|---|"
row "fold 100,000 names (nodeset -f)" "$WHARF nodeset -f <$work/names" "nodeset -f <$work/names"
row "expand rack[01-25]-node[0001-4000] (nodeset -e)" "$WHARF nodeset -e 'rack[01-25]-node[0001-4000]'" "nodeset -e 'rack[01-25]-node[0001-4000]'"
row "count with operators (nodeset -c)" "$WHARF nodeset -c 'n[1-200000]!n[1000-1999]&n[1-150000]'" "nodeset -c 'n[1-200000]!n[1000-1999]&n[1-150000]'"
row "sort $(wc -l <"$work/versions") versions (sort -V, not dpkg-exact)" "$WHARF version sort <$work/versions" "sort -V $work/versions"

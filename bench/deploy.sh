#!/usr/bin/env bash
# Deploy benchmark: upgrade one package from 1.0 to 1.1 on N nodes (default 100), every
# node an ssh_config `Host` alias of one local sshd, logged in as the throw-away user
# `wharftest`, each node with its own private apt/dpkg root owned by that user (the
# non-root recipe of DESIGN.md: APT_CONFIG points at ROOT/etc/apt/apt.conf, which sets
# Dir, dpkg's --root/--admindir/--force-not-root and keeps the host's apt.conf.d out).
# The package comes from a Wharf repository served by `wharf server` on 127.0.0.1.
#
# Timed side by side, in one run, from the same state (1.0 installed, apt lists present,
# no .deb cached), resetting every root in between (untimed):
#   - `wharf deploy 1.1 bench --yes`: the built-in `upgrade` pipeline — prepare checks,
#     install in batches of 25%, each batch's versions read back, restart, verify;
#   - `clush -b -f 64` running the same apt-get command (`-R exec`: `ssh %h …` per node, as
#     %h is only substituted there), then a `dpkg-query` version check;
#   - `ansible -f 64 -m shell`, the same command followed by the same version check.
# Also: `wharf deploy 1.1 bench --dry-run`, and one node's install run alone (no SSH).
# Prints a Markdown table. One run each.
#
# Usage (as root): [WHARF=PATH] [KEEP=1 (keep the work directory)] bash bench/deploy.sh [NODE_COUNT…]
# Never run as a test: it installs packages, creates the user `wharftest` and takes minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "run as root (creates a login user and starts sshd)" >&2; exit 2; }
COUNTS=("${@:-100}")
PKG=wharfbench

need=()
command -v clush >/dev/null || need+=(clustershell)
command -v ansible >/dev/null || need+=(ansible)
command -v dpkg-deb >/dev/null || need+=(dpkg)
[ -x /usr/sbin/sshd ] || need+=(openssh-server)
[ -x /usr/bin/time ] || need+=(time)
if [ ${#need[@]} -gt 0 ]; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# WHARF=/path/to/wharf measures that binary instead of building this checkout.
if [ -z "${WHARF:-}" ]; then
  cargo build --release --quiet -p wharf
  WHARF=$(realpath "${CARGO_TARGET_DIR:-target}/release/wharf")
fi

USER_NAME=wharftest
id "$USER_NAME" >/dev/null 2>&1 || useradd -m -s /bin/sh "$USER_NAME"
usermod -p '*' "$USER_NAME"   # key logins only; `!` would be refused with UsePAM no

work=$(mktemp -d); chmod 755 "$work"
sshd_pid= server_pid=
cleanup() {
  [ -n "$sshd_pid" ] && kill "$sshd_pid" 2>/dev/null
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null
  wait 2>/dev/null
  if [ -n "${KEEP:-}" ]; then echo "kept $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT
export WHARF_CONFIG=$work/wharf.toml WHARF_DATA=$work/data WHARF_SYSTEM_CONFIG=/dev/null
touch "$WHARF_CONFIG"

# --- the package, 1.0 and 1.1: one file, no maintainer scripts, no dependencies --------
for v in 1.0 1.1; do
  d=$work/pkg-$v
  mkdir -p "$d/DEBIAN" "$d/usr/share/$PKG"
  echo "$v" >"$d/usr/share/$PKG/VERSION"
  cat >"$d/DEBIAN/control" <<EOF
Package: $PKG
Version: $v
Architecture: all
Maintainer: Wharf benchmark <bench@example.invalid>
Section: misc
Priority: optional
Description: Wharf deploy benchmark package
EOF
  dpkg-deb --root-owner-group --build "$d" "$work/${PKG}_${v}_all.deb" >/dev/null
done

# --- the repository, published and served ----------------------------------------------
"$WHARF" repo create bench --distribution bookworm >/dev/null
"$WHARF" repo add bench "$work/${PKG}_1.0_all.deb" "$work/${PKG}_1.1_all.deb" >/dev/null
"$WHARF" publish bench >/dev/null
"$WHARF" key export >"$work/wharf.asc"; chmod 644 "$work/wharf.asc"
"$WHARF" server --listen 127.0.0.1:0 >"$work/server.out" 2>"$work/server.err" &
server_pid=$!
apt_url=
for _ in $(seq 100); do # bounded readiness poll: at most 10 s
  apt_url=$(sed -n 's/^listening on //p' "$work/server.out" 2>/dev/null | head -1)
  [ -n "$apt_url" ] && break
  sleep 0.1
done
[ -n "$apt_url" ] || { echo "wharf server did not start:" >&2; cat "$work/server.err" >&2; exit 1; }

# --- sshd -------------------------------------------------------------------------------
ssh-keygen -q -t ed25519 -N '' -f "$work/host_key"
ssh-keygen -q -t ed25519 -N '' -f "$work/client_key"
cp "$work/client_key.pub" "$work/authorized_keys"; chmod 644 "$work/authorized_keys"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat >"$work/sshd_config" <<EOF
Port $port
ListenAddress 127.0.0.1
HostKey $work/host_key
PidFile $work/sshd.pid
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
AuthorizedKeysFile $work/authorized_keys
StrictModes no
MaxStartups 1000:30:2000
AllowUsers $USER_NAME
Subsystem sftp internal-sftp
EOF
mkdir -p /run/sshd
/usr/sbin/sshd -D -e -f "$work/sshd_config" 2>"$work/sshd.log" &
sshd_pid=$!
for _ in $(seq 100); do # bounded readiness poll: at most 10 s
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then break; fi
  sleep 0.1
done
echo "[127.0.0.1]:$port $(cut -d' ' -f1-2 "$work/host_key.pub")" >"$work/known_hosts"

max=$(printf '%s\n' "${COUNTS[@]}" | sort -n | tail -1)
width=$(( ${#max} > 3 ? ${#max} : 3 ))
names() { seq -f "n%0${width}g" 1 "$1"; }
{
  for n in $(names "$max"); do
    printf 'Host %s\n  HostName 127.0.0.1\n  Port %s\n  User %s\n  IdentityFile %s\n  UserKnownHostsFile %s\n  StrictHostKeyChecking yes\n' \
      "$n" "$port" "$USER_NAME" "$work/client_key" "$work/known_hosts"
  done
} >"$work/ssh_config"
# Wharf reads ~/.ssh/config: give it a home of its own.
mkdir -p "$work/home/.ssh"; cp "$work/ssh_config" "$work/home/.ssh/config"

# --- one private apt/dpkg root per node, owned by the SSH user ---------------------------
roots=$work/roots
for n in $(names "$max"); do
  r=$roots/$n
  mkdir -p "$r"/etc/apt/{sources.list.d,preferences.d,apt.conf.d,trusted.gpg.d} \
    "$r"/var/lib/apt/lists/partial "$r"/var/cache/apt/archives/partial \
    "$r"/var/lib/dpkg/{info,updates,triggers} "$r"/var/log/apt
  : >"$r/var/lib/dpkg/status"
  echo "deb [signed-by=$work/wharf.asc] $apt_url/apt/bench bookworm main" >"$r/etc/apt/sources.list.d/wharf.list"
  # APT_CONFIG is read before apt.conf.d, and Dir moves apt.conf.d into the root: the
  # host's /etc/apt/apt.conf.d (its DPkg::Post-Invoke hooks…) stays out.
  cat >"$r/etc/apt/apt.conf" <<EOF
Dir "$r/";
Dir::State::status "$r/var/lib/dpkg/status";
Dir::Etc::TrustedParts "$r/etc/apt/trusted.gpg.d";
Dir::Log "$r/var/log/apt";
Debug::NoLocking "1";
APT::Sandbox::User "$USER_NAME";
DPkg::Options:: "--root=$r";
DPkg::Options:: "--admindir=$r/var/lib/dpkg";
DPkg::Options:: "--force-not-root";
DPkg::Options:: "--log=$r/var/log/dpkg.log";
EOF
done
chown -R "$USER_NAME:" "$roots"

# The one install command every tool runs, with NODE standing for the node's name (each
# tool's own placeholder), and the version check.
install_cmd() { # NODE VERSION_WORDS
  local cfg="APT_CONFIG=$roots/$1/etc/apt/apt.conf"
  echo "$cfg apt-get update && $cfg DEBIAN_FRONTEND=noninteractive apt-get install -y -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold $2"
}
version_cmd() { # NODE
  echo "dpkg-query --admindir=$roots/$1/var/lib/dpkg -W -f='\${Version}\n' $PKG"
}

# Untimed: every root back to "1.0 installed, lists present, no .deb cached".
reset_roots() { # COUNT
  names "$1" | xargs -P 8 -I{} runuser -u "$USER_NAME" -- sh -c "
    export APT_CONFIG=$roots/{}/etc/apt/apt.conf
    dpkg --root=$roots/{} --admindir=$roots/{}/var/lib/dpkg --force-not-root --log=/dev/null --purge $PKG >/dev/null 2>&1
    { apt-get -q update && DEBIAN_FRONTEND=noninteractive apt-get install -q -y $PKG=1.0 && apt-get clean; } >$roots/{}/reset.log 2>&1 \
      || { echo 'reset of {} failed:' >&2; cat $roots/{}/reset.log >&2; exit 255; }"
}
# How many of the first COUNT roots run VERSION.
count_version() { # COUNT VERSION
  local ok=0 v
  for n in $(names "$1"); do
    v=$(dpkg-query --admindir="$roots/$n/var/lib/dpkg" -W -f='${Version}' $PKG 2>/dev/null || true)
    [ "$v" = "$2" ] && ok=$((ok + 1))
  done
  echo "$ok"
}

# name count command… → wall seconds in $work/rows, output in $work/NAME-COUNT.{out,err}
measure() {
  local name=$1 count=$2; shift 2
  local code=0
  (cd "$work" && env -u SSH_AUTH_SOCK HOME="$work/home" /usr/bin/time -f '%e' -o "$work/time" "$@" \
    >"$work/$name-$count.out" 2>"$work/$name-$count.err") || code=$?
  local wall; wall=$(tail -1 "$work/time")
  echo "$name $count $wall $code $(count_version "$count" 1.1)" >>"$work/rows"
}

cat >"$work/ansible.cfg" <<EOF
[defaults]
host_key_checking = True
EOF

for count in "${COUNTS[@]}"; do
  set_expr="n[$(printf "%0${width}d" 1)-$(printf "%0${width}d" "$count")]"
  echo "== $count nodes: resetting roots to $PKG 1.0" >&2
  reset_roots "$count"

  # Wharf's configuration: the nodes, one environment, the commands addressing each
  # node's root through {node}.
  cat >"$WHARF_CONFIG" <<EOF
[[nodes]]
names = "$set_expr"

[[environments]]
name = "bench"
nodes = "$set_expr"
repository = "bench"
packages = ["$PKG"]

[commands]
install = '''$(install_cmd '{node}' '{allow_downgrades} {packages}')'''
version = '''dpkg-query --admindir=$roots/{node}/var/lib/dpkg -W -f='\${{db:Status-Status}} \${{Version}}' {package} 2>/dev/null | sed -n 's/^installed //p''''
EOF
  "$WHARF" config check >/dev/null

  # One node's install alone, without SSH: the floor of any tool's per-node time.
  first=$(names 1)
  start=$(date +%s.%N)
  runuser -u "$USER_NAME" -- sh -c "$(install_cmd "$first" "$PKG=1.1")" >"$work/alone.out" 2>&1
  alone=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.2f", e - s }')
  reset_roots 1

  # --dry-run: plan and guards only.
  start=$(date +%s.%N)
  HOME=$work/home "$WHARF" deploy 1.1 bench --dry-run >"$work/dry.out" 2>&1 || true
  dry=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.3f", e - s }')

  echo "== $count nodes: wharf deploy" >&2
  measure wharf "$count" "$WHARF" deploy 1.1 bench --yes
  deploy_id=$(HOME=$work/home "$WHARF" history bench -n 1 --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')
  HOME=$work/home "$WHARF" show "$deploy_id" --json >"$work/show.json"

  echo "== $count nodes: clush" >&2
  reset_roots "$count"
  # clush substitutes %h only with its `exec` worker (the ssh worker sends the command as
  # written), so each node's command is an `ssh %h …` that clush runs locally: what its
  # ssh worker would run, with the node's own root in the remote command.
  printf 'clush -R exec -b -f 64 -w %q %q && clush -R exec -b -f 64 -w %q %q\n' \
    "$set_expr" "$(printf 'ssh -F %q -oBatchMode=yes %%h %q' "$work/ssh_config" "$(install_cmd %h "$PKG=1.1")")" \
    "$set_expr" "$(printf 'ssh -F %q -oBatchMode=yes %%h %q' "$work/ssh_config" "$(version_cmd %h)")" >"$work/clush.sh"
  measure clush "$count" bash "$work/clush.sh"

  echo "== $count nodes: ansible" >&2
  reset_roots "$count"
  { echo "[fleet]"; names "$count"; } >"$work/inventory"
  measure ansible "$count" env ANSIBLE_CONFIG="$work/ansible.cfg" \
    ANSIBLE_SSH_ARGS="-C -o ControlMaster=auto -o ControlPersist=60s -F $work/ssh_config" \
    ANSIBLE_LOCALHOST_WARNING=False ansible all -i "$work/inventory" -f 64 -m shell \
    -a "$(install_cmd '{{ inventory_hostname }}' "$PKG=1.1") && $(version_cmd '{{ inventory_hostname }}')"

  # Wharf's node timings: the slowest install, and the sum over batches of each batch's
  # slowest node (batches run one after another).
  python3 - "$work/show.json" "$count" "$alone" "$dry" >>"$work/wharf-detail" <<'EOF'
import json, sys
from datetime import datetime
show = json.load(open(sys.argv[1]))
t = lambda s: datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()
runs = [n for n in show["nodes"] if n["stage_name"] == "install" and n.get("finished_at")]
batches = {}
for n in runs:
    batches.setdefault(n["started_at"], []).append(t(n["finished_at"]) - t(n["started_at"]))
slowest = max(max(b) for b in batches.values())
per_batch = sum(max(b) for b in batches.values())
print(sys.argv[2], f"{slowest:.2f}", f"{per_batch:.2f}", len(batches), sys.argv[3], sys.argv[4])
EOF
done

echo "| tool | nodes | wall s | exit | nodes at 1.1 | wall / wharf |"
echo "|---|---|---|---|---|---|"
awk '{ if ($1 == "wharf") base[$2] = $3;
       printf "| %s | %s | %.2f | %s | %s | %.1f× |\n", $1, $2, $3, $4, $5, (base[$2] > 0 ? $3 / base[$2] : 0) }' "$work/rows"
echo
echo "| nodes | wharf total s | slowest node install s | overhead (total − slowest) | batches | Σ slowest per batch s | overhead (total − Σ) | one install alone s | --dry-run s |"
echo "|---|---|---|---|---|---|---|---|---|"
while read -r count slowest per_batch nbatches alone dry; do
  total=$(awk -v c="$count" '$1 == "wharf" && $2 == c { print $3 }' "$work/rows")
  awk -v c="$count" -v T="$total" -v s="$slowest" -v p="$per_batch" -v b="$nbatches" -v a="$alone" -v d="$dry" 'BEGIN {
    printf "| %s | %.2f | %.2f | %.2f s (%.0f%%) | %s | %.2f | %.2f s (%.0f%%) | %s | %s |\n",
      c, T, s, T - s, 100 * (T - s) / T, b, p, T - p, 100 * (T - p) / T, a, d }'
done <"$work/wharf-detail"

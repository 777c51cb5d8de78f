#!/usr/bin/env bash
# Fan-out benchmark: `true` on 200 and 1,000 node names, all pointing at one local sshd,
# with `wharf run`, `clush -f 64`, `pdsh -f 64 -R ssh` and `ansible -m raw -f 64`, each with
# its defaults (OpenSSH's default key exchange for the OpenSSH-based tools). One run each.
# Prints a Markdown table: wall time, client CPU (user+sys, children included), peak RSS.
#
# Usage (as root, on a machine like CI's): [TOOLS="wharf clush"] bash bench/fanout.sh [NODE_COUNTS…]
# Never run as a test: it installs packages, creates the user `wharftest` and takes minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "run as root (creates a login user and starts sshd)" >&2; exit 2; }
COUNTS=("${@:-200}")
[ $# -gt 0 ] || COUNTS=(200 1000)
# wharf-cfg: wharf again, through an operator-style config (Include, Match, HostKeyAlias, a
# host certificate trusted by a @cert-authority line instead of per-host keys).
TOOLS=${TOOLS:-wharf wharf-cfg clush pdsh ansible}
want() { [[ " $TOOLS " == *" $1 "* ]]; }

need=()
command -v clush >/dev/null || need+=(clustershell)
command -v pdsh >/dev/null || need+=(pdsh)
command -v ansible >/dev/null || need+=(ansible)
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
sshd_pid=
cleanup() { [ -n "$sshd_pid" ] && kill "$sshd_pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

ssh-keygen -q -t ed25519 -N '' -f "$work/host_key"
ssh-keygen -q -t ed25519 -N '' -f "$work/client_key"
ssh-keygen -q -t ed25519 -N '' -f "$work/host_ca"
ssh-keygen -q -s "$work/host_ca" -I bench -h -n fleet-lb "$work/host_key.pub"
cp "$work/client_key.pub" "$work/authorized_keys"; chmod 644 "$work/authorized_keys"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat >"$work/sshd_config" <<EOF
Port $port
ListenAddress 127.0.0.1
HostKey $work/host_key
HostCertificate $work/host_key-cert.pub
PidFile $work/sshd.pid
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
AuthorizedKeysFile $work/authorized_keys
StrictModes no
MaxStartups 1000:30:2000
AllowUsers $USER_NAME
EOF
mkdir -p /run/sshd
/usr/sbin/sshd -D -e -f "$work/sshd_config" 2>"$work/sshd.log" &
sshd_pid=$!
for _ in $(seq 100); do # bounded readiness poll: at most 10 s
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then break; fi
  sleep 0.1
done

max=$(printf '%s\n' "${COUNTS[@]}" | sort -n | tail -1)
echo "[127.0.0.1]:$port $(cut -d' ' -f1-2 "$work/host_key.pub")" >"$work/known_hosts"
{
  for i in $(seq -f '%04g' 1 "$max"); do
    printf 'Host n%s\n  HostName 127.0.0.1\n  Port %s\n  User %s\n  IdentityFile %s\n  UserKnownHostsFile %s\n  StrictHostKeyChecking yes\n' \
      "$i" "$port" "$USER_NAME" "$work/client_key" "$work/known_hosts"
  done
} >"$work/ssh_config"
# The same nodes as an operator writes them: one Included file, a Match, HostKeyAlias, CA.
mkdir -p "$work/conf.d"
printf 'Host n*\n  HostName 127.0.0.1\n  Port %s\n  HostKeyAlias fleet-lb\n  UserKnownHostsFile %s\n' \
  "$port" "$work/known_hosts_ca" >"$work/conf.d/fleet.conf"
printf 'Match originalhost n* user root,%s\n  User %s\n  IdentityFile %s\nInclude %s/conf.d/*.conf\n' \
  "$USER_NAME" "$USER_NAME" "$work/client_key" "$work" >"$work/ssh_config_full"
echo "@cert-authority fleet-lb $(cut -d' ' -f1-2 "$work/host_ca.pub")" >"$work/known_hosts_ca"
{ echo "[fleet]"; for i in $(seq -f '%04g' 1 "$max"); do echo "n$i"; done; } >"$work/inventory"

# name count command… → one table row; every tool runs from an empty directory.
measure() {
  local name=$1 count=$2; shift 2
  local code=0
  (cd "$work" && env -u SSH_AUTH_SOCK /usr/bin/time -f '%e %U %S %M' -o "$work/time" "$@" >"$work/out" 2>"$work/err") || code=$?
  read -r wall user sys rss <"$work/time"
  cpu=$(awk -v u="$user" -v s="$sys" 'BEGIN { printf "%.2f", u + s }')
  rss_mib=$(awk -v r="$rss" 'BEGIN { printf "%.1f", r / 1024 }')
  echo "$name $count $wall $cpu $rss_mib $code" >>"$work/rows"
}

for count in "${COUNTS[@]}"; do
  set_expr="n[0001-$(printf '%04d' "$count")]"
  want wharf && measure wharf "$count" "$WHARF" run --ssh-config "$work/ssh_config" -w "$set_expr" -f 64 -- true
  want wharf-cfg && measure wharf-cfg "$count" "$WHARF" run --ssh-config "$work/ssh_config_full" -w "$set_expr" -f 64 -- true
  want clush && measure clush "$count" clush -f 64 -o "-F $work/ssh_config" -w "$set_expr" true
  want pdsh && measure pdsh "$count" env PDSH_SSH_ARGS_APPEND="-F $work/ssh_config" pdsh -R ssh -f 64 -l "$USER_NAME" -w "$set_expr" true
  head -n $((count + 1)) "$work/inventory" >"$work/inventory-$count"
  want ansible && measure ansible "$count" env ANSIBLE_SSH_ARGS="-C -o ControlMaster=auto -o ControlPersist=60s -F $work/ssh_config" \
    ANSIBLE_LOCALHOST_WARNING=False ansible all -i "$work/inventory-$count" -m raw -a true -f 64
  :  # a skipped tool is not a failure
done

echo "| tool | nodes | wall s | client CPU s | peak RSS MiB | exit | wall / wharf |"
echo "|---|---|---|---|---|---|---|"
awk '{ if ($1 == "wharf") base[$2] = $3;
       printf "| %s | %s | %.2f | %s | %s | %s | %.1f× |\n", $1, $2, $3, $4, $5, $6, (base[$2] > 0 ? $3 / base[$2] : 0) }' "$work/rows"

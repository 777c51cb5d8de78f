#!/usr/bin/env bash
# APT repositories: Wharf against aptly and reprepro (Debian's packages), same machine, one
# run. See docs/benchmarks.md for what each step measures and the last results.
#
#   bash bench/apt.sh                 # 2,000 and 20,000 packages, every section
#   SIZES="500" bash bench/apt.sh     # a quick run
#   SECTIONS=contents SIZES=20000 bash bench/apt.sh   # only Contents indices
#   SECTIONS=import bash bench/apt.sh                  # only `wharf import aptly`
#   SECTIONS=backup SIZES=20000 bash bench/apt.sh      # only backup and restore
#   SECTIONS=sources SOURCE_SIZES=200 bash bench/apt.sh  # only source packages (.dsc)
#   WHARF=/tmp/old/wharf bash bench/apt.sh   # another build of wharf
#   SECTIONS=mirror bash bench/apt.sh                   # only mirrors (MIRROR_SIZES, default 20000)
#
# Sections (SECTIONS, space-separated; default: all of them):
#   main      add, publish, add one, second writer, copy: Contents off in all three tools
#   contents  the same steps with Contents-ARCH.gz indices on in all three tools
#   import    moving off aptly: `wharf import aptly` of an aptly root
#   backup    `wharf backup`/`restore` against tar and cp -a of an aptly root
#   sources   SOURCE_SIZES source packages (.dsc) added and published, once, after the rest
#   mirror    `wharf mirror update` against `aptly mirror update` of a reprepro-published
#             repository of MIRROR_SIZES packages served by nginx, once, after the rest
#
# Everything is written under one temporary directory, removed at the end (KEEP=1 keeps it).
# Needs root for `apt-get install` when aptly, reprepro or gpg are missing.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO_ROOT=$PWD
SIZES=${SIZES:-"2000 20000"}
SECTIONS=${SECTIONS:-"main contents import backup sources mirror"}
SOURCE_SIZES=${SOURCE_SIZES:-"1000"}
MIRROR_SIZES=${MIRROR_SIZES:-20000}
# Writer 2 starts this long after writer 1 (which takes far longer than this).
SECOND_WRITER_DELAY=${SECOND_WRITER_DELAY:-0.1}

need=()
command -v aptly >/dev/null || need+=(aptly)
command -v reprepro >/dev/null || need+=(reprepro)
command -v gpg >/dev/null || need+=(gpg gpg-agent)
[ -x /usr/bin/time ] || need+=(time)
command -v bc >/dev/null || need+=(bc)
[[ " $SECTIONS " != *" mirror "* ]] || [ -x /usr/sbin/nginx ] || need+=(nginx-light)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing ${need[*]}" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# WHARF=/path/to/wharf measures that binary instead of building this checkout (to compare
# two builds side by side: run the script once with each).
if [ -z "${WHARF:-}" ]; then
  echo "building wharf (release)" >&2
  cargo build --release --locked -p wharf -q
  WHARF="${CARGO_TARGET_DIR:-$REPO_ROOT/target}/release/wharf"
fi

WORK=$(mktemp -d /tmp/wharf-bench-apt.XXXXXX)
if [ "${KEEP:-0}" = 1 ]; then echo "keeping $WORK" >&2; else trap 'rm -rf "$WORK"' EXIT; fi
RESULTS="$WORK/results.tsv"
: >"$RESULTS"

# One throw-away signing key for aptly and reprepro (Wharf makes its own): Ed25519, no
# passphrase, in a private GNUPGHOME. All three tools sign every publish.
export GNUPGHOME="$WORK/gnupg"
mkdir -m 700 "$GNUPGHOME"
gpg --batch --quiet --pinentry-mode loopback --passphrase '' \
  --quick-gen-key "Wharf bench <bench@wharf.invalid>" ed25519 sign never 2>/dev/null
KEY=$(gpg --list-secret-keys --with-colons | awk -F: '/^fpr/ { print $10; exit }')

# measure TOOL SIZE TASK CMD…: run CMD, record seconds and peak RSS (MiB) from
# /usr/bin/time; a failing command is recorded as FAIL with its exit code.
measure() {
  local tool=$1 size=$2 task=$3
  shift 3
  local log="$WORK/log.$tool.$size.${task// /_}"
  local code=0
  /usr/bin/time -f '%e %M' -o "$WORK/time" "$@" >"$log" 2>&1 || code=$?
  local secs kib
  read -r secs kib < <(tail -n 1 "$WORK/time")
  if [ "$code" != 0 ]; then
    echo "  $tool $size $task: FAILED (exit $code), see $log" >&2
    tail -n 3 "$log" >&2
    secs="FAIL($code)"
  fi
  printf '%s\t%s\t%s\t%s\t%s\n' "$tool" "$size" "$task" "$secs" "$((kib / 1024))" >>"$RESULTS"
  printf '  %-9s %6s  %-22s %8s s %6s MiB\n' "$tool" "$size" "$task" "$secs" "$((kib / 1024))" >&2
}

now() { date +%s.%N; }

# second_writer TOOL SIZE "WRITER1 CMD" "WRITER2 CMD": start writer 1 in the background,
# writer 2 after SECOND_WRITER_DELAY; record writer 2's exit code, its wall time, and how
# long after writer 1 it finished.
second_writer() {
  local tool=$1 size=$2 first=$3 second=$4
  local dir="$WORK/second.$tool.$size"
  mkdir -p "$dir"
  (bash -c "$first" >"$dir/w1.log" 2>&1; echo $? >"$dir/w1.code"; now >"$dir/w1.end") &
  local w1=$!
  sleep "$SECOND_WRITER_DELAY"
  local w1_running=yes
  kill -0 "$w1" 2>/dev/null || w1_running=no
  local start code=0
  start=$(now)
  bash -c "$second" >"$dir/w2.log" 2>&1 || code=$?
  local end
  end=$(now)
  wait "$w1"
  local w1_end
  w1_end=$(cat "$dir/w1.end")
  local wall after
  wall=$(echo "$end - $start" | bc -l)
  after=$(echo "$end - $w1_end" | bc -l)
  printf '%s\t%s\t%s\t%.3f\t%.3f\t%s\t%s\n' "$tool" "$size" "second writer" "$wall" "$after" "$code" "$w1_running" >>"$WORK/second.tsv"
  printf '  %-9s %6s  second writer: exit %s after %.3f s, %.3f s after writer 1 ended (writer 1 still running at start: %s)\n' \
    "$tool" "$size" "$code" "$wall" "$after" "$w1_running" >&2
  [ "$code" = 0 ] || tail -n 2 "$dir/w2.log" >&2
}
: >"$WORK/second.tsv"

# reprepro_distributions DIR ORIGIN: a reprepro root's conf for bookworm/main/amd64,
# Packages with .gz and .xz like Wharf, signed with the bench key.
reprepro_distributions() {
  mkdir -p "$1/conf"
  cat >"$1/conf/distributions" <<EOF
Origin: $2
Label: $2
Codename: bookworm
Architectures: amd64
Components: main
DebIndices: Packages Release . .gz .xz
SignWith: $KEY
EOF
}

# ---------------------------------------------------------------------------------------
# Mirrors (SECTIONS=mirror selects this section alone): a repository of N
# packages that reprepro publishes and signs, served by nginx on 127.0.0.1, mirrored from
# scratch by `aptly mirror update` and `wharf mirror update` (both verify the signature
# and every file's checksum; both download 8 files at a time), then again after one new
# package upstream, then once more with nothing new.
bench_mirror() {
  local N=$1
  echo "== mirror of $N packages" >&2
  local U="$WORK/upstream-$N"
  mkdir -p "$U/conf" "$U/nginx"
  python3 "$REPO_ROOT/bench/gen-debs.py" "$WORK/mirror-debs-$N" "$N" 2>/dev/null
  python3 "$REPO_ROOT/bench/gen-debs.py" "$WORK/mirror-extra-$N" 1 "mirrorextra" 2>/dev/null
  reprepro_distributions "$U" Upstream
  (cd "$WORK/mirror-debs-$N" && reprepro -b "$U" includedeb bookworm ./*.deb >/dev/null)
  gpg --export --armor "$KEY" >"$WORK/upstream.asc"
  gpg --export "$KEY" >"$WORK/upstream.gpg"
  local port
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  cat >"$U/nginx/nginx.conf" <<EOF
user root root;
worker_processes 2;
daemon off;
pid $U/nginx/nginx.pid;
error_log $U/nginx/error.log;
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path $U/nginx; proxy_temp_path $U/nginx; fastcgi_temp_path $U/nginx;
  uwsgi_temp_path $U/nginx; scgi_temp_path $U/nginx;
  server { listen 127.0.0.1:$port; root $U; }
}
EOF
  nginx -p "$U/nginx" -c "$U/nginx/nginx.conf" &
  local nginx_pid=$!
  for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
  local URL="http://127.0.0.1:$port/"

  local W="$WORK/wharf-mirror-$N"
  "$WHARF" --data "$W" mirror create up "$URL" bookworm --architecture amd64 --keyring "$WORK/upstream.asc" >/dev/null
  measure wharf "$N" "mirror update (cold)" "$WHARF" --data "$W" mirror update up

  local A="$WORK/aptly-mirror-$N"
  cat >"$WORK/aptly-mirror-$N.conf" <<EOF
{ "rootDir": "$A", "architectures": ["amd64"], "gpgProvider": "gpg", "downloadConcurrency": 8 }
EOF
  local APTLY=(aptly -config="$WORK/aptly-mirror-$N.conf")
  "${APTLY[@]}" mirror create -architectures=amd64 -keyring="$WORK/upstream.gpg" up "$URL" bookworm main >/dev/null
  measure aptly "$N" "mirror update (cold)" "${APTLY[@]}" mirror update -keyring="$WORK/upstream.gpg" up

  reprepro -b "$U" includedeb bookworm "$WORK/mirror-extra-$N"/*.deb >/dev/null
  measure wharf "$N" "mirror update, one new" "$WHARF" --data "$W" mirror update up
  measure aptly "$N" "mirror update, one new" "${APTLY[@]}" mirror update -keyring="$WORK/upstream.gpg" up
  measure wharf "$N" "mirror update, no change" "$WHARF" --data "$W" mirror update up
  measure aptly "$N" "mirror update, no change" "${APTLY[@]}" mirror update -keyring="$WORK/upstream.gpg" up

  kill "$nginx_pid" 2>/dev/null || true
  wait "$nginx_pid" 2>/dev/null || true
}

# bench_main N: add, publish, add one, a second writer and a copy; Contents off in all
# three tools (aptly -skip-contents, reprepro without Contents:, wharf --contents=false).
bench_main() {
  local N=$1 DEBS="$WORK/debs-$1" W A R
  # --- Wharf: SQLite store, signs with its own Ed25519 key; no Contents (like the others).
  W="$WORK/wharf-$N"
  "$WHARF" --data "$W" repo create b --distribution bookworm --architectures amd64 --contents=false >/dev/null
  "$WHARF" --data "$W" key export >/dev/null # key generation is not part of any measurement
  measure wharf "$N" "add" "$WHARF" --data "$W" repo add b "$DEBS"
  measure wharf "$N" "publish" "$WHARF" --data "$W" publish b
  measure wharf "$N" "add one" "$WHARF" --data "$W" repo add b "$WORK/extra1-$N"
  measure wharf "$N" "publish after add one" "$WHARF" --data "$W" publish b
  measure wharf "$N" "no-change publish" "$WHARF" --data "$W" publish b
  second_writer wharf "$N" \
    "'$WHARF' --data '$W' publish b --prefix second" \
    "'$WHARF' --data '$W' repo add b '$WORK/extra2-$N'"
  measure wharf "$N" "add one (alone)" "$WHARF" --data "$W" repo add b "$WORK/extra3-$N"
  # Promotion: 1,000 packages chosen by a query (pkg01000…pkg01999) into an empty repository.
  "$WHARF" --data "$W" repo create promoted --distribution bookworm --architectures amd64 --contents=false >/dev/null
  measure wharf "$N" "copy 1000 by query" "$WHARF" --data "$W" repo copy b promoted 'Name (% pkg01*)'

  # --- aptly: its own root, signing with the bench key through gpg; no Contents and no
  # bz2 indices (Wharf writes neither), which only makes aptly faster.
  A="$WORK/aptly-$N"
  mkdir -p "$A"
  cat >"$WORK/aptly-$N.conf" <<EOF
{ "rootDir": "$A", "architectures": ["amd64"], "gpgProvider": "gpg", "skipContentsPublishing": true }
EOF
  APTLY=(aptly -config="$WORK/aptly-$N.conf")
  APTLY_SIGN=(-gpg-key="$KEY" -batch -skip-contents -skip-bz2)
  "${APTLY[@]}" repo create -distribution=bookworm -component=main b >/dev/null
  measure aptly "$N" "add" "${APTLY[@]}" repo add b "$DEBS"
  measure aptly "$N" "publish" "${APTLY[@]}" publish repo "${APTLY_SIGN[@]}" b
  measure aptly "$N" "add one" "${APTLY[@]}" repo add b "$WORK/extra1-$N"
  measure aptly "$N" "publish after add one" "${APTLY[@]}" publish update "${APTLY_SIGN[@]}" bookworm
  measure aptly "$N" "no-change publish" "${APTLY[@]}" publish update "${APTLY_SIGN[@]}" bookworm
  second_writer aptly "$N" \
    "${APTLY[*]} publish repo -distribution=second ${APTLY_SIGN[*]} b second" \
    "${APTLY[*]} repo add b '$WORK/extra2-$N'"
  measure aptly "$N" "add one (alone)" "${APTLY[@]}" repo add b "$WORK/extra3-$N"
  "${APTLY[@]}" repo create -distribution=bookworm -component=main promoted >/dev/null
  measure aptly "$N" "copy 1000 by query" "${APTLY[@]}" repo copy b promoted 'Name (% pkg01*)'

  # --- reprepro: SignWith the bench key; Packages, .gz and .xz like Wharf.
  R="$WORK/reprepro-$N"
  mkdir -p "$R/conf"
  reprepro_distributions "$R" Bench
  (
    cd "$DEBS"
    measure reprepro "$N" "add" reprepro -b "$R" --export=never includedeb bookworm ./*.deb
  )
  measure reprepro "$N" "publish" reprepro -b "$R" export bookworm
  # includedeb exports (publishes) by default: one command adds and publishes.
  measure reprepro "$N" "add one and publish" reprepro -b "$R" includedeb bookworm "$WORK/extra1-$N"/*.deb
  measure reprepro "$N" "no-change publish" reprepro -b "$R" export bookworm
  second_writer reprepro "$N" \
    "reprepro -b '$R' export bookworm" \
    "reprepro -b '$R' includedeb bookworm '$WORK/extra2-$N'/*.deb"
  measure reprepro "$N" "add one (alone)" reprepro -b "$R" --export=never includedeb bookworm "$WORK/extra3-$N"/*.deb
}

# bench_contents N: Contents-ARCH.gz on in all three tools. Wharf and reprepro read the
# file lists when a package is added, aptly at its first publish: add and publish are
# measured apart, and docs/benchmarks.md compares them together too.
bench_contents() {
  local N=$1 DEBS="$WORK/debs-$1" W A R
  echo "-- Contents, $N packages" >&2
  W="$WORK/wharf-contents-$N"
  "$WHARF" --data "$W" repo create b --distribution bookworm --architectures amd64 >/dev/null
  "$WHARF" --data "$W" key export >/dev/null
  measure wharf "$N" "contents: add" "$WHARF" --data "$W" repo add b "$DEBS"
  measure wharf "$N" "contents: publish" "$WHARF" --data "$W" publish b
  measure wharf "$N" "contents: add one" "$WHARF" --data "$W" repo add b "$WORK/extra1-$N"
  measure wharf "$N" "contents: publish after add one" "$WHARF" --data "$W" publish b
  # The Contents index alone: off (Packages unchanged), then on again from the stored lists.
  "$WHARF" --data "$W" repo edit b --contents=false >/dev/null
  "$WHARF" --data "$W" publish b >/dev/null
  "$WHARF" --data "$W" repo edit b --contents=true >/dev/null
  measure wharf "$N" "contents: index alone" "$WHARF" --data "$W" publish b

  A="$WORK/aptly-contents-$N"
  mkdir -p "$A"
  printf '{ "rootDir": "%s", "architectures": ["amd64"], "gpgProvider": "gpg" }\n' "$A" >"$A.conf"
  local APTLY=(aptly -config="$A.conf")
  local APTLY_SIGN=(-gpg-key="$KEY" -batch -skip-bz2)
  "${APTLY[@]}" repo create -distribution=bookworm -component=main b >/dev/null
  measure aptly "$N" "contents: add" "${APTLY[@]}" repo add b "$DEBS"
  measure aptly "$N" "contents: publish" "${APTLY[@]}" publish repo "${APTLY_SIGN[@]}" b
  measure aptly "$N" "contents: add one" "${APTLY[@]}" repo add b "$WORK/extra1-$N"
  measure aptly "$N" "contents: publish after add one" "${APTLY[@]}" publish update "${APTLY_SIGN[@]}" bookworm

  R="$WORK/reprepro-contents-$N"
  mkdir -p "$R/conf"
  printf '%s\n' "Origin: Bench" "Label: Bench" "Codename: bookworm" "Architectures: amd64" \
    "Components: main" "DebIndices: Packages Release . .gz .xz" "Contents: .gz" \
    "SignWith: $KEY" >"$R/conf/distributions"
  (
    cd "$DEBS"
    measure reprepro "$N" "contents: add" reprepro -b "$R" --export=never includedeb bookworm ./*.deb
  )
  measure reprepro "$N" "contents: publish" reprepro -b "$R" export bookworm
  measure reprepro "$N" "contents: add one and publish" reprepro -b "$R" includedeb bookworm "$WORK/extra1-$N"/*.deb
  # All three wrote main/Contents-amd64.gz: their line counts show they list the same files.
  local tree
  for tree in "$W/public/b" "$A/public" "$R"; do
    printf '  %s: %s lines in main/Contents-amd64.gz\n' "$tree" \
      "$(gzip -dc "$tree/dists/bookworm/main/Contents-amd64.gz" | wc -l)" >&2
  done
}

# backup_section N: `wharf backup` of a data directory holding N published packages (the
# one the repos section made, else one made here) against what aptly users do with theirs:
# `tar` of the aptly root and `cp -a`. Wharf snapshots the store online, hashes every file
# into a manifest and fsyncs each; tar and cp do neither. Then `wharf restore` (checks
# every file against the manifest) against `tar -x`.
backup_section() {
  local N=$1 W="$WORK/wharf-$N" A="$WORK/aptly-$N"
  if [ ! -d "$W" ]; then
    "$WHARF" --data "$W" repo create b --distribution bookworm --architectures amd64 >/dev/null
    "$WHARF" --data "$W" repo add b "$DEBS" >/dev/null
    "$WHARF" --data "$W" publish b >/dev/null
  fi
  if [ ! -d "$A" ]; then
    mkdir -p "$A"
    printf '{ "rootDir": "%s", "architectures": ["amd64"], "gpgProvider": "gpg", "skipContentsPublishing": true }\n' \
      "$A" >"$WORK/aptly-$N.conf"
    local aptly=(aptly -config="$WORK/aptly-$N.conf")
    "${aptly[@]}" repo create -distribution=bookworm -component=main b >/dev/null
    "${aptly[@]}" repo add b "$DEBS" >/dev/null
    "${aptly[@]}" publish repo -gpg-key="$KEY" -batch -skip-contents -skip-bz2 b >/dev/null
  fi
  measure wharf "$N" "backup" "$WHARF" --data "$W" backup "$WORK/wharf-backup-$N"
  measure wharf "$N" "restore" "$WHARF" --data "$WORK/wharf-restored-$N" restore "$WORK/wharf-backup-$N"
  measure aptly "$N" "backup (tar)" tar -cf "$WORK/aptly-$N.tar" -C "$A" .
  measure aptly "$N" "backup (cp -a)" cp -a "$A" "$WORK/aptly-copy-$N"
  mkdir -p "$WORK/aptly-untar-$N"
  measure aptly "$N" "restore (tar -x)" tar -xf "$WORK/aptly-$N.tar" -C "$WORK/aptly-untar-$N"
  printf '  sizes: wharf data %s, its backup %s; aptly root %s\n' "$(du -sh "$W" | cut -f1)" \
    "$(du -sh "$WORK/wharf-backup-$N" | cut -f1)" "$(du -sh "$A" | cut -f1)" >&2
}

# --- Import from aptly (issue 14): an aptly root holding one repository of N packages and
# a snapshot of it, as a team moving off aptly has. `wharf import aptly` recreates both
# (aptly lists them, every pool file is hashed and checked, then added as `repo add` adds
# files, the snapshot through a staging repository). Set against what taking the same
# files in costs aptly itself (`repo add`) and Wharf (`repo add`), and a second import
# (nothing to do: aptly's listings and the comparison only).
bench_import() {
  local N=$1
  local DEBS="$WORK/debs-$N" A="$WORK/aptly-import-$N" W="$WORK/wharf-import-$N"
  [ -d "$DEBS" ] || python3 "$REPO_ROOT/bench/gen-debs.py" "$DEBS" "$N"
  mkdir -p "$A"
  printf '{ "rootDir": "%s", "architectures": ["amd64"] }\n' "$A" >"$A.conf"
  local APTLY=(aptly -config="$A.conf")
  "${APTLY[@]}" repo create -distribution=bookworm -component=main tools >/dev/null
  measure aptly "$N" "add (import source)" "${APTLY[@]}" repo add tools "$DEBS"
  "${APTLY[@]}" snapshot create tools-snap from repo tools >/dev/null
  measure wharf "$N" "import aptly" "$WHARF" --data "$W" import aptly "$A"
  measure wharf "$N" "import aptly again" "$WHARF" --data "$W" import aptly "$A"
  "$WHARF" --data "$W-add" repo create b --distribution bookworm >/dev/null
  measure wharf "$N" "add (same files)" "$WHARF" --data "$W-add" repo add b "$DEBS"
}

# Source packages: N `.dsc` files (3.0 native, one .tar.gz each) added and published,
# then one more added and published. reprepro takes one .dsc per `includedsc`, so its add
# is N commands (what a script feeding it does); aptly and Wharf take the directory.
bench_sources() {
for N in $SOURCE_SIZES; do
  echo "== $N source packages" >&2
  DSCS="$WORK/dscs-$N"
  python3 "$REPO_ROOT/bench/gen-dscs.py" "$DSCS" "$N"
  python3 "$REPO_ROOT/bench/gen-dscs.py" "$WORK/extra-dsc-$N" 1 extra

  W="$WORK/wharf-src-$N"
  "$WHARF" --data "$W" repo create s --distribution bookworm --architectures amd64 >/dev/null
  "$WHARF" --data "$W" key export >/dev/null
  measure wharf "$N" "src add" "$WHARF" --data "$W" repo add s "$DSCS"
  measure wharf "$N" "src publish" "$WHARF" --data "$W" publish s
  measure wharf "$N" "src add one" "$WHARF" --data "$W" repo add s "$WORK/extra-dsc-$N"
  measure wharf "$N" "src publish after add one" "$WHARF" --data "$W" publish s

  A="$WORK/aptly-src-$N"
  mkdir -p "$A"
  cat >"$WORK/aptly-src-$N.conf" <<EOF
{ "rootDir": "$A", "architectures": ["amd64"], "gpgProvider": "gpg", "skipContentsPublishing": true }
EOF
  APTLY=(aptly -config="$WORK/aptly-src-$N.conf")
  APTLY_SIGN=(-gpg-key="$KEY" -batch -skip-contents -skip-bz2)
  "${APTLY[@]}" repo create -distribution=bookworm -component=main s >/dev/null
  measure aptly "$N" "src add" "${APTLY[@]}" repo add s "$DSCS"
  measure aptly "$N" "src publish" "${APTLY[@]}" publish repo -architectures=source,amd64 "${APTLY_SIGN[@]}" s
  measure aptly "$N" "src add one" "${APTLY[@]}" repo add s "$WORK/extra-dsc-$N"
  measure aptly "$N" "src publish after add one" "${APTLY[@]}" publish update "${APTLY_SIGN[@]}" bookworm

  R="$WORK/reprepro-src-$N"
  mkdir -p "$R/conf"
  cat >"$R/conf/distributions" <<EOF
Origin: Bench
Label: Bench
Codename: bookworm
Architectures: amd64 source
Components: main
DebIndices: Packages Release . .gz .xz
DscIndices: Sources Release . .gz .xz
SignWith: $KEY
EOF
  measure reprepro "$N" "src add" bash -c \
    'for dsc in "$2"/*.dsc; do reprepro -b "$1" --export=never -S utils -P optional includedsc bookworm "$dsc" || exit 1; done' \
    _ "$R" "$DSCS"
  measure reprepro "$N" "src publish" reprepro -b "$R" export bookworm
  measure reprepro "$N" "src add one and publish" reprepro -b "$R" -S utils -P optional includedsc bookworm "$WORK/extra-dsc-$N"/extra00000_1.0.dsc
done
}

for N in $SIZES; do
  echo "== $N packages" >&2
  DEBS="$WORK/debs-$N"
  start=$(now)
  python3 "$REPO_ROOT/bench/gen-debs.py" "$DEBS" "$N"
  for extra in 1 2 3; do python3 "$REPO_ROOT/bench/gen-debs.py" "$WORK/extra$extra-$N" 1 "extra$extra" 2>/dev/null; done

  for section in $SECTIONS; do
    case $section in
      main) bench_main "$N" ;;
      contents) bench_contents "$N" ;;
      import) bench_import "$N" ;;
      backup) backup_section "$N" ;;
      sources | mirror) ;; # once, after the sizes: below
      *) echo "unknown section $section (main, contents, import, backup, sources, mirror)" >&2; exit 2 ;;
    esac
  done
  # Nothing is deleted until the end: on ext4, freshly freed inodes slow down new ones.
done
if [[ " $SECTIONS " == *" sources "* ]]; then bench_sources; fi
if [[ " $SECTIONS " == *" mirror "* ]]; then
  for N in $MIRROR_SIZES; do bench_mirror "$N"; done
fi

echo >&2
echo "tool	size	task	seconds	peak MiB"
cat "$RESULTS"
echo
echo "tool	size	task	wall s	s after writer 1 ended	exit	writer 1 running at start"
cat "$WORK/second.tsv"

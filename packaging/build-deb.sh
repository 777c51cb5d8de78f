#!/usr/bin/env bash
# Build wharf_VERSION_ARCH.deb: the binary, the systemd unit, an example
# /etc/wharf/wharf.toml (a conffile), a `wharf` system user owning /var/lib/wharf (created
# by postinst), shell completions and the man pages.
#
# Usage: bash packaging/build-deb.sh [OUT_DIR]     (WHARF=PATH packages that binary
# instead of building a release one; DEB_COMPRESSION=gzip|xz|none, default xz). Prints the
# path of the .deb it wrote.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-target/debian}
mkdir -p "$out"
if [ -z "${WHARF:-}" ]; then
  cargo build --release --quiet -p wharf
  WHARF=target/release/wharf
fi
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
arch=$(dpkg --print-architecture)
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
root="$stage/wharf_${version}_${arch}"

install -D -m 0755 "$WHARF" "$root/usr/bin/wharf"
install -D -m 0644 packaging/wharf.service "$root/lib/systemd/system/wharf.service"
install -D -m 0644 packaging/wharf.toml "$root/etc/wharf/wharf.toml"
mkdir -p "$root/usr/share/bash-completion/completions" "$root/usr/share/zsh/vendor-completions" \
  "$root/usr/share/fish/vendor_completions.d" "$root/usr/share/man/man1" "$root/usr/share/doc/wharf"
"$root/usr/bin/wharf" completions bash >"$root/usr/share/bash-completion/completions/wharf"
"$root/usr/bin/wharf" completions zsh >"$root/usr/share/zsh/vendor-completions/_wharf"
"$root/usr/bin/wharf" completions fish >"$root/usr/share/fish/vendor_completions.d/wharf.fish"
"$root/usr/bin/wharf" man --out "$root/usr/share/man/man1" >/dev/null
gzip -9n "$root"/usr/share/man/man1/*.1
cp README.md docs/*.md "$root/usr/share/doc/wharf/"
cat >"$root/usr/share/doc/wharf/copyright" <<COPYRIGHT
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: wharf
License: Apache-2.0
COPYRIGHT

mkdir -p "$root/DEBIAN"
installed_size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
cat >"$root/DEBIAN/control" <<CONTROL
Package: wharf
Version: ${version}
Architecture: ${arch}
Maintainer: Wharf developers <wharf@wharf.invalid>
Installed-Size: ${installed_size}
Depends: libc6, liblzma5, adduser
Recommends: openssh-client
Section: admin
Priority: optional
Homepage: https://wharf.invalid
Description: release and deployment control plane for Debian fleets
 Signed APT repositories served to stock apt, ClusterShell-style node sets with
 fast SSH fan-out, and deployments through staging, canary and production with
 prepare checks, change-lock windows, locks, holds, rollbacks and an audit log.
CONTROL
echo /etc/wharf/wharf.toml >"$root/DEBIAN/conffiles"
cat >"$root/DEBIAN/postinst" <<'POSTINST'
#!/bin/sh
set -e
if [ "$1" = configure ]; then
  if ! getent passwd wharf >/dev/null; then
    adduser --system --group --home /var/lib/wharf --no-create-home wharf
  fi
  install -d -o wharf -g wharf -m 0750 /var/lib/wharf
  if [ -d /run/systemd/system ]; then
    systemctl daemon-reload >/dev/null || true
  fi
fi
POSTINST
cat >"$root/DEBIAN/postrm" <<'POSTRM'
#!/bin/sh
set -e
if [ "$1" = purge ]; then
  # The data (repositories, the store, keys) stays: remove /var/lib/wharf by hand.
  if getent passwd wharf >/dev/null; then deluser --system wharf >/dev/null || true; fi
fi
if [ -d /run/systemd/system ]; then
  systemctl daemon-reload >/dev/null || true
fi
POSTRM
chmod 0755 "$root/DEBIAN/postinst" "$root/DEBIAN/postrm"
deb="$out/wharf_${version}_${arch}.deb"
dpkg-deb --root-owner-group -Z"${DEB_COMPRESSION:-xz}" --build "$root" "$deb" >/dev/null
echo "$deb"

#!/usr/bin/env python3
"""Write N small, valid source packages quickly (dpkg-source -b costs ~100 ms each).

Usage: gen-dscs.py OUT_DIR N [PREFIX] [VERSION]

Each source package PREFIXNNNNN VERSION is a `3.0 (native)` package: a .dsc and a
PREFIXNNNNN_VERSION.tar.gz holding PREFIXNNNNN-VERSION/debian/{changelog,control,
source/format}, as dpkg-source writes them. dpkg-source -x, aptly, reprepro and wharf
read them.
"""
import hashlib
import io
import os
import sys
import tarfile


def tar_gz(files):
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w:gz", format=tarfile.GNU_FORMAT) as tar:
        for name, data in files:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            info.mtime = 1700000000
            tar.addfile(info, io.BytesIO(data))
    return raw.getvalue()


def main():
    out, n = sys.argv[1], int(sys.argv[2])
    prefix = sys.argv[3] if len(sys.argv) > 3 else "src"
    version = sys.argv[4] if len(sys.argv) > 4 else "1.0"
    os.makedirs(out, exist_ok=True)
    for i in range(n):
        name = f"{prefix}{i:05d}"
        top = f"{name}-{version}"
        control = (
            f"Source: {name}\nSection: utils\nPriority: optional\n"
            "Maintainer: Bench <bench@wharf.invalid>\nStandards-Version: 4.6.2\n\n"
            f"Package: {name}\nArchitecture: all\nDescription: bench {name}\n"
        ).encode()
        changelog = (
            f"{name} ({version}) unstable; urgency=low\n\n  * Bench.\n\n"
            " -- Bench <bench@wharf.invalid>  Mon, 01 Jan 2024 00:00:00 +0000\n"
        ).encode()
        tarball = tar_gz([
            (f"{top}/debian/changelog", changelog),
            (f"{top}/debian/control", control),
            (f"{top}/debian/source/format", b"3.0 (native)\n"),
        ])
        tar_name = f"{name}_{version}.tar.gz"
        with open(os.path.join(out, tar_name), "wb") as f:
            f.write(tarball)
        size = len(tarball)
        sums = {alg: hashlib.new(alg, tarball).hexdigest() for alg in ("md5", "sha1", "sha256")}
        dsc = (
            f"Format: 3.0 (native)\nSource: {name}\nBinary: {name}\nArchitecture: all\n"
            f"Version: {version}\nMaintainer: Bench <bench@wharf.invalid>\n"
            "Standards-Version: 4.6.2\n"
            f"Package-List:\n {name} deb utils optional arch=all\n"
            f"Checksums-Sha1:\n {sums['sha1']} {size} {tar_name}\n"
            f"Checksums-Sha256:\n {sums['sha256']} {size} {tar_name}\n"
            f"Files:\n {sums['md5']} {size} {tar_name}\n"
        )
        with open(os.path.join(out, f"{name}_{version}.dsc"), "w") as f:
            f.write(dsc)


if __name__ == "__main__":
    main()

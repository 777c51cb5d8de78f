//! Bounded memory: `repo add` streams every file into storage as it reads it, so adding
//! 2 GiB of packages takes no more memory than a few files' worth.

use std::path::Path;
use std::process::{Command, Stdio};

use crate::support::{Scratch, outcome};

/// Builds `name_1.0_amd64.deb` holding `data` (hard-linked in, stored uncompressed).
fn build_big_deb(out_dir: &Path, name: &str, data: &Path) {
    let root = out_dir.join(format!("root-{name}"));
    std::fs::create_dir_all(root.join("DEBIAN")).unwrap();
    std::fs::create_dir_all(root.join("usr/share/big")).unwrap();
    std::fs::hard_link(data, root.join("usr/share/big").join(name)).unwrap();
    std::fs::write(
        root.join("DEBIAN/control"),
        format!(
            "Package: {name}\nVersion: 1.0\nArchitecture: amd64\nMaintainer: T <t@wharf.invalid>\nDescription: big {name}\n"
        ),
    )
    .unwrap();
    let status = Command::new("dpkg-deb")
        .args(["-Znone", "--root-owner-group", "--build"])
        .arg(&root)
        .arg(out_dir.join(format!("{name}_1.0_amd64.deb")))
        .stdout(Stdio::null())
        .status()
        .expect("dpkg-deb (Debian package dpkg)");
    assert!(status.success());
    std::fs::remove_dir_all(&root).unwrap();
}

/// Peak RSS in KiB of `wharf ARGS`, measured by GNU time (Debian package `time`).
fn peak_rss_kib(scratch: &Scratch, args: &[&str]) -> u64 {
    let report = scratch.path().join("time.txt");
    let command = scratch.wharf(args);
    let program = command.get_program().to_owned();
    let wharf_args: Vec<_> = command.get_args().map(ToOwned::to_owned).collect();
    let envs: Vec<_> = command
        .get_envs()
        .map(|(key, value)| (key.to_owned(), value.map(ToOwned::to_owned)))
        .collect();
    let mut timed = Command::new("/usr/bin/time");
    timed.arg("-f").arg("%M").arg("-o").arg(&report).arg(program).args(wharf_args);
    timed.current_dir(scratch.path());
    for (key, value) in envs {
        match value {
            Some(value) => timed.env(key, value),
            None => timed.env_remove(key),
        };
    }
    let output = timed.output().expect("/usr/bin/time (Debian package time)");
    let (code, stdout, stderr) = outcome(&output);
    assert_eq!(code, 0, "wharf {args:?}: {stdout}{stderr}");
    std::fs::read_to_string(&report).unwrap().trim().parse().unwrap()
}

#[test]
fn adding_2_gib_of_packages_stays_under_300_mib() {
    const N_FILES: usize = 32;
    const FILE_MIB: usize = 64;
    let scratch = Scratch::new();
    let debs = scratch.path().join("debs");
    std::fs::create_dir_all(&debs).unwrap();
    // 64 MiB of data every package carries (not all zeros, not compressed).
    let data = scratch.path().join("data.bin");
    let chunk: Vec<u8> =
        (0..1 << 20).map(|i: u32| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    let mut bytes = Vec::with_capacity(FILE_MIB << 20);
    for _ in 0..FILE_MIB {
        bytes.extend_from_slice(&chunk);
    }
    std::fs::write(&data, &bytes).unwrap();
    drop(bytes);
    for idx in 0..N_FILES {
        build_big_deb(&debs, &format!("big{idx:02}"), &data);
    }
    std::fs::remove_file(&data).unwrap();
    let total: u64 =
        std::fs::read_dir(&debs).unwrap().map(|e| e.unwrap().metadata().unwrap().len()).sum();
    assert!(total >= 2 << 30, "only {total} bytes of packages");

    let (code, _, stderr) =
        outcome(&scratch.run(&["repo", "create", "big", "--distribution", "bookworm"]));
    assert_eq!(code, 0, "{stderr}");
    let peak = peak_rss_kib(&scratch, &["repo", "add", "big", debs.to_str().unwrap()]);
    assert!(peak < 300 * 1024, "repo add of {total} bytes peaked at {} MiB", peak / 1024);

    let (code, stdout, stderr) = outcome(&scratch.run(&["repo", "show", "big", "--json"]));
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains(&format!("\"packages\": {N_FILES}")), "{stdout}");
    let (code, stdout, stderr) = outcome(&scratch.run(&["repo", "verify"]));
    assert_eq!(code, 0, "{stdout}{stderr}");
}

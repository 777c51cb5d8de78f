//! Differential test: Wharf's [`Version`] ordering against the real
//! `dpkg --compare-versions`, over versions taken from this machine's apt lists
//! (`apt-cache dumpavail`) plus variants made from them (`~`, epochs, revisions,
//! leading zeros, long numbers).
//!
//! Pairs mix near neighbours (versions of one package, versions adjacent in string
//! order and in Wharf's order) with random pairs from a fixed-seed generator, so a
//! failure reproduces. Every mismatch is collected and printed before the test fails.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;
use std::time::Instant;

use wharf_core::version::Version;

/// Fewer distinct versions than this means the apt lists are missing.
const MIN_DISTINCT_VERSIONS: usize = 2_000;
/// The test must compare at least this many pairs.
const MIN_PAIRS: usize = 10_000;

/// `SplitMix64`: a tiny deterministic generator, enough to pick pairs reproducibly.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A uniform-enough index below `len` (`len > 0`).
    fn below(&mut self, len: usize) -> usize {
        usize::try_from(self.next() % u64::try_from(len).unwrap()).unwrap()
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    /// Up to `n` items of `items`, chosen without replacement.
    fn sample<T>(&mut self, mut items: Vec<T>, n: usize) -> Vec<T> {
        let n = n.min(items.len());
        for i in 0..n {
            let j = i + self.below(items.len() - i);
            items.swap(i, j);
        }
        items.truncate(n);
        items
    }
}

/// `(package, version)` for every stanza of `apt-cache dumpavail`.
fn apt_versions() -> Vec<(String, String)> {
    let output = Command::new("apt-cache")
        .arg("dumpavail")
        .output()
        .expect("cannot run `apt-cache dumpavail`: is apt installed?");
    assert!(
        output.status.success(),
        "`apt-cache dumpavail` failed ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8_lossy(&output.stdout);
    let mut package = String::new();
    let mut found = Vec::new();
    for line in text.lines() {
        if let Some(name) = line.strip_prefix("Package:") {
            name.trim().clone_into(&mut package);
        } else if let Some(version) = line.strip_prefix("Version:") {
            found.push((package.clone(), version.trim().to_owned()));
        }
    }
    found
}

/// Variants of a real version that exercise `~`, epochs, revisions, leading zeros and
/// long digit runs. All are valid versions; each is paired with the original.
fn variants(version: &Version) -> Vec<String> {
    let text = version.as_str();
    let mut out = vec![
        format!("{text}~rc1"),
        format!("{text}~"),
        format!("{text}~~"),
        format!("{text}+b1"),
        format!("{text}a"),
        format!("{text}.0"),
        format!("{text}.99999999999999999999999"),
        format!("{text}.100000000000000000000000"),
        // A leading zero on the first number (epoch or upstream) changes nothing.
        format!("0{text}"),
        format!("1:{text}"),
        format!("{}:{text}", version.epoch() + 1),
    ];
    if version.epoch() == 0 && !text.contains(':') {
        out.push(format!("0:{text}"));
    }
    if version.revision().is_none() {
        out.push(format!("{text}-0"));
        out.push(format!("{text}-1"));
        out.push(format!("{text}-0~bpo1"));
    } else {
        let cut = text.rfind('-').unwrap();
        out.push(format!("{}~rc1{}", &text[..cut], &text[cut..]));
        out.push(text[..cut].to_owned());
    }
    // A zero inserted before an inner number: `1.2.3` -> `1.02.3`.
    if let Some(dot) =
        text.as_bytes().windows(2).position(|w| w[0] == b'.' && w[1].is_ascii_digit())
    {
        out.push(format!("{}0{}", &text[..=dot], &text[dot + 1..]));
    }
    out
}

/// The pairs to compare, deduplicated, in a deterministic order.
fn build_pairs(
    by_package: &BTreeMap<String, BTreeSet<String>>,
    distinct: &[String],
    parsed: &[Version],
) -> BTreeSet<(String, String)> {
    let mut rng = SplitMix(0x5768_6172_6620_7631);
    let mut pairs = BTreeSet::new();

    // Versions of the same package: neighbours in string order, and oldest vs newest.
    let mut same_package = Vec::new();
    for versions in by_package.values() {
        let versions: Vec<&String> = versions.iter().collect();
        for pair in versions.windows(2) {
            same_package.push((pair[0].clone(), pair[1].clone()));
        }
        if versions.len() > 2 {
            same_package.push((versions[0].clone(), versions[versions.len() - 1].clone()));
        }
    }
    pairs.extend(rng.sample(same_package, 3_000));

    // Neighbours in string order: long shared prefixes.
    let string_adjacent: Vec<_> =
        distinct.windows(2).map(|w| (w[0].clone(), w[1].clone())).collect();
    pairs.extend(rng.sample(string_adjacent, 3_000));

    // Neighbours in Wharf's own order: exactly where a wrong order would show.
    let mut wharf_sorted: Vec<&Version> = parsed.iter().collect();
    wharf_sorted.sort();
    let wharf_adjacent: Vec<_> =
        wharf_sorted.windows(2).map(|w| (w[0].to_string(), w[1].to_string())).collect();
    pairs.extend(rng.sample(wharf_adjacent, 3_000));

    // Random pairs.
    for _ in 0..2_000 {
        pairs.insert((rng.pick(distinct).clone(), rng.pick(distinct).clone()));
    }

    // Variants, against their original and against a random real version.
    for _ in 0..400 {
        let version = rng.pick(parsed);
        let variants = variants(version);
        for variant in &variants {
            pairs.insert((version.to_string(), variant.clone()));
        }
        pairs.insert((rng.pick(&variants).clone(), rng.pick(distinct).clone()));
        pairs.insert((rng.pick(&variants).clone(), rng.pick(&variants).clone()));
    }

    pairs.retain(|(a, b)| a != b);
    pairs
}

/// What `dpkg --compare-versions a OP b` says (exit 0 = true, 1 = false).
fn dpkg_relation(a: &str, op: &str, b: &str) -> Result<bool, String> {
    let output = Command::new("dpkg")
        .args(["--compare-versions", a, op, b])
        .output()
        .map_err(|e| format!("cannot run dpkg: {e}"))?;
    if !output.stderr.is_empty() {
        return Err(format!("dpkg said: {}", String::from_utf8_lossy(&output.stderr).trim()));
    }
    match output.status.code() {
        Some(0) => Ok(true),
        Some(1) => Ok(false),
        _ => Err(format!("dpkg exited with {}", output.status)),
    }
}

/// dpkg's ordering of `a` and `b`: `lt`, and when not, `eq`.
fn dpkg_compare(a: &str, b: &str) -> Result<Ordering, String> {
    if dpkg_relation(a, "lt", b)? {
        Ok(Ordering::Less)
    } else if dpkg_relation(a, "eq", b)? {
        Ok(Ordering::Equal)
    } else {
        Ok(Ordering::Greater)
    }
}

/// One disagreement: the pair and what each side said.
fn compare_pair(a: &str, b: &str) -> Option<String> {
    let wharf = match (a.parse::<Version>(), b.parse::<Version>()) {
        (Ok(va), Ok(vb)) => {
            let forward = va.cmp(&vb);
            if vb.cmp(&va) != forward.reverse() {
                return Some(format!("{a} vs {b}: Wharf is not antisymmetric"));
            }
            forward
        }
        (Err(e), _) | (_, Err(e)) => return Some(format!("{a} vs {b}: Wharf rejects: {e}")),
    };
    match dpkg_compare(a, b) {
        Ok(dpkg) if dpkg == wharf => None,
        Ok(dpkg) => Some(format!("{a} vs {b}: dpkg says {dpkg:?}, Wharf says {wharf:?}")),
        Err(e) => Some(format!("{a} vs {b}: {e}")),
    }
}

#[test]
fn versions_order_like_dpkg() {
    let started = Instant::now();
    let found = apt_versions();
    let mut by_package: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (package, version) in &found {
        by_package.entry(package.clone()).or_default().insert(version.clone());
    }
    let distinct: Vec<String> =
        found.iter().map(|(_, v)| v.clone()).collect::<BTreeSet<_>>().into_iter().collect();
    assert!(
        distinct.len() >= MIN_DISTINCT_VERSIONS,
        "only {} distinct versions in `apt-cache dumpavail` (need {MIN_DISTINCT_VERSIONS}): \
         run `apt-get update` first so the apt lists are populated",
        distinct.len()
    );

    // Every real version parses.
    let mut parsed = Vec::with_capacity(distinct.len());
    let mut rejected = Vec::new();
    for text in &distinct {
        match text.parse::<Version>() {
            Ok(version) => {
                assert_eq!(version.to_string(), *text, "Display must print the original text");
                parsed.push(version);
            }
            Err(e) => rejected.push(e.to_string()),
        }
    }
    assert!(
        rejected.is_empty(),
        "{} of {} real versions rejected:\n{}",
        rejected.len(),
        distinct.len(),
        rejected.join("\n")
    );

    let pairs: Vec<(String, String)> =
        build_pairs(&by_package, &distinct, &parsed).into_iter().collect();
    assert!(pairs.len() >= MIN_PAIRS, "only {} pairs built, need {MIN_PAIRS}", pairs.len());

    // dpkg is one process per question: ask from several threads.
    let n_threads = std::thread::available_parallelism().map_or(4, |n| n.get() * 2).clamp(4, 16);
    let chunk_len = pairs.len().div_ceil(n_threads);
    let mut mismatches: Vec<String> = std::thread::scope(|scope| {
        let workers: Vec<_> = pairs
            .chunks(chunk_len)
            .map(|chunk| {
                scope.spawn(move || {
                    chunk.iter().filter_map(|(a, b)| compare_pair(a, b)).collect::<Vec<_>>()
                })
            })
            .collect();
        workers.into_iter().flat_map(|w| w.join().expect("worker panicked")).collect()
    });
    mismatches.sort();

    eprintln!(
        "version_dpkg: {} distinct real versions, {} pairs compared with dpkg on {n_threads} \
         threads in {:.1?}",
        distinct.len(),
        pairs.len(),
        started.elapsed()
    );
    assert!(
        mismatches.is_empty(),
        "{} of {} pairs disagree with dpkg:\n{}",
        mismatches.len(),
        pairs.len(),
        mismatches.join("\n")
    );
}

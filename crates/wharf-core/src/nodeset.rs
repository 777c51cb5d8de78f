//! ClusterShell node sets: parse, combine, expand and fold expressions such as
//! `web[01-10],db[1-3]!db2` exactly like ClusterShell 1.9's `nodeset` command.
//!
//! The module is a faithful port of ClusterShell's `NodeSet.py` / `RangeSet.py`
//! (without the group *configuration*: groups come from a [`GroupSource`]).
//! It matches `nodeset -e` (expand order), `nodeset -f` (fold) and `nodeset -c`
//! byte for byte, which a differential test (`tests/it/nodeset_clustershell.rs`)
//! checks against the real ClusterShell on thousands of random expressions.
//!
//! # Representation
//!
//! Like ClusterShell, a set maps a *pattern* (the name with every digit run replaced
//! by `%s`, literal `%` escaped as `%%`) to the indices of its nodes:
//!
//! - no index (`login`) → nothing;
//! - one index (`web[01-10]`) → a [`RangeSet`]: a sorted vector of [`Idx`] (value and
//!   zero-padded width), so `n1` and `n01` are different nodes, as in ClusterShell;
//! - several indices (`r[1-2]n[1-4]`) → a [`RangeSetNd`]: a list of vectors of
//!   `RangeSet`s, each vector being a cartesian product.
//!
//! Folding a 1-D pattern is linear; n-D folding reproduces ClusterShell's univariate
//! and multivariate folding exactly (the expand order of n-D patterns depends on it,
//! so the history of operations is reproduced too, including when folding happens).
//!
//! # Syntax
//!
//! Operators `,` (union), `!` (difference), `&` (intersection) and `^` (symmetric
//! difference) apply left to right, without precedence. Ranges take zero padding
//! (`[01-10]`), steps (`[1-9/2]`) and lists (`[1,3,5-7]`); several brackets make a
//! cartesian product; digits next to a bracket are folded into it (`n1[0-2]` is
//! `n[10-12]`, `n[1-2]0` is `n[10,20]`). `@name` asks the [`GroupSource`]; `@*` is all
//! nodes; `*` and `?` in a name match against all nodes.
//!
//! # Deliberate differences from ClusterShell
//!
//! - Node indices are limited to 18 digits of value (ClusterShell allows up to 1e100).
//! - A set may not hold more than [`MAX_NODES`] nodes: larger expansions are an error
//!   instead of exhausting memory.
//! - Only ASCII digits are indices (Python's `\d` also takes other Unicode digits).
//! - Group names are passed whole to the [`GroupSource`] (`role:web`, `*`); `@@source`
//!   group listings are not supported.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fmt::{self, Write as _};
use std::sync::OnceLock;

/// The largest number of nodes an expression may expand to.
pub const MAX_NODES: usize = 1_000_000;

/// Largest index value accepted (ClusterShell accepts up to 1e100).
const MAX_INDEX: i128 = 999_999_999_999_999_999;

/// Resolves `@name` references. `name` is the text after `@`: `workers`, `role:web`, `*`.
pub trait GroupSource {
    /// The members of group `name`, or `None` when no such group exists.
    fn group(&self, name: &str) -> Option<NodeSet>;
}

/// A source with no groups: every `@name` is unknown.
pub struct NoGroups;
impl GroupSource for NoGroups {
    fn group(&self, _name: &str) -> Option<NodeSet> {
        None
    }
}

/// A malformed expression or an unknown group, with the byte position in the expression.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("node set {expr:?} at position {position}: {reason}")]
pub struct NodeSetError {
    pub expr: String,
    pub position: usize,
    pub reason: String,
}

// ---------------------------------------------------------------------------------------
// Indices and 1-D range sets (RangeSet.py)
// ---------------------------------------------------------------------------------------

/// One node index as ClusterShell stores it: the string `"%0*d" % (pad, value)`.
/// `width` is the string length for non-negative values and 0 for negative ones
/// (ClusterShell never pads negative indices).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
struct Idx {
    value: i64,
    width: u32,
}

fn n_digits(value: i64) -> u32 {
    let mut n = 1;
    let mut v = value.unsigned_abs();
    while v >= 10 {
        v /= 10;
        n += 1;
    }
    n
}

impl Idx {
    fn new(value: i64, pad: u32) -> Idx {
        if value < 0 {
            Idx { value, width: 0 }
        } else {
            Idx { value, width: pad.max(n_digits(value)) }
        }
    }
    /// Zero-padded: more than one character and a leading `0`.
    fn padded(self) -> bool {
        self.value >= 0 && self.width > n_digits(self.value)
    }
    /// Length of the string form.
    fn digitlen(self) -> u32 {
        if self.value < 0 { n_digits(self.value) + 1 } else { self.width }
    }
    fn write(self, out: &mut String) {
        if self.value < 0 {
            let _ = write!(out, "{}", self.value);
        } else {
            let _ = write!(out, "{:0w$}", self.value, w = self.width as usize);
        }
    }
    fn text(self) -> String {
        let mut s = String::new();
        self.write(&mut s);
        s
    }
}

/// ClusterShell's `RangeSet._sorted` order: negative values numerically first, then
/// by string length, then by value.
impl Ord for Idx {
    fn cmp(&self, other: &Self) -> Ordering {
        let key = |i: &Idx| (i.value >= 0, i.width, i.value);
        key(self).cmp(&key(other))
    }
}
impl PartialOrd for Idx {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// A set of indices, kept sorted in ClusterShell order without duplicates.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct RangeSet {
    items: Vec<Idx>,
}

/// A run of consecutive indices with one padding: one comma-separated part of a fold.
struct Run {
    start: i64,
    end: i64,
    pad: u32,
}

fn write_padded(out: &mut String, value: i64, pad: u32) {
    if value < 0 {
        let _ = write!(out, "{value}");
    } else {
        let _ = write!(out, "{:0w$}", value, w = pad as usize);
    }
}

impl RangeSet {
    fn single(idx: Idx) -> RangeSet {
        RangeSet { items: vec![idx] }
    }
    fn from_unsorted(mut items: Vec<Idx>) -> RangeSet {
        items.sort_unstable();
        items.dedup();
        RangeSet { items }
    }
    fn len(&self) -> usize {
        self.items.len()
    }
    fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
    fn contains(&self, idx: Idx) -> bool {
        self.items.binary_search(&idx).is_ok()
    }

    /// Merge two sorted sets, keeping elements according to `keep(in_a, in_b)`.
    fn merge(&self, other: &RangeSet, keep: impl Fn(bool, bool) -> bool) -> RangeSet {
        let (a, b) = (&self.items, &other.items);
        let mut out = Vec::with_capacity(a.len().max(b.len()));
        let (mut i, mut j) = (0, 0);
        while i < a.len() || j < b.len() {
            let ord = match (a.get(i), b.get(j)) {
                (Some(x), Some(y)) => x.cmp(y),
                (Some(_), None) => Ordering::Less,
                _ => Ordering::Greater,
            };
            match ord {
                Ordering::Less => {
                    if keep(true, false) {
                        out.push(a[i]);
                    }
                    i += 1;
                }
                Ordering::Greater => {
                    if keep(false, true) {
                        out.push(b[j]);
                    }
                    j += 1;
                }
                Ordering::Equal => {
                    if keep(true, true) {
                        out.push(a[i]);
                    }
                    i += 1;
                    j += 1;
                }
            }
        }
        RangeSet { items: out }
    }
    fn union_in_place(&mut self, other: &RangeSet) {
        if other.len() > 8 {
            *self = self.merge(other, |_, _| true);
            return;
        }
        for idx in &other.items {
            if self.items.last().is_none_or(|last| last < idx) {
                self.items.push(*idx);
            } else if let Err(at) = self.items.binary_search(idx) {
                self.items.insert(at, *idx);
            }
        }
    }
    fn intersection(&self, other: &RangeSet) -> RangeSet {
        self.merge(other, |a, b| a && b)
    }
    fn difference(&self, other: &RangeSet) -> RangeSet {
        self.merge(other, |a, b| a && !b)
    }
    fn symmetric_difference(&self, other: &RangeSet) -> RangeSet {
        self.merge(other, |a, b| a != b)
    }
    fn is_subset(&self, other: &RangeSet) -> bool {
        self.len() <= other.len() && self.items.iter().all(|i| other.contains(*i))
    }
    fn is_disjoint(&self, other: &RangeSet) -> bool {
        let (small, big) = if self.len() <= other.len() { (self, other) } else { (other, self) };
        !small.items.iter().any(|i| big.contains(*i))
    }
    fn is_proper_subset(&self, other: &RangeSet) -> bool {
        self.len() < other.len() && self.is_subset(other)
    }

    /// `_slices_padding` with autostep disabled (the `nodeset` default): maximal runs of
    /// consecutive values whose padding agrees with the run's first element.
    fn runs(&self) -> Vec<Run> {
        let mut runs = Vec::new();
        let items = &self.items;
        let mut i = 0;
        while i < items.len() {
            let first = items[i];
            let padded = first.padded();
            let len = first.digitlen();
            let mut j = i;
            while j + 1 < items.len() {
                let next = items[j + 1];
                let compatible = if padded { next.digitlen() == len } else { !next.padded() };
                if next.value != items[j].value + 1 || !compatible {
                    break;
                }
                j += 1;
            }
            runs.push(Run {
                start: first.value,
                end: items[j].value,
                pad: if padded { len } else { 0 },
            });
            i = j + 1;
        }
        runs
    }

    /// The comma-separated parts of `str(rangeset)`.
    fn fold_parts(&self) -> Vec<String> {
        self.runs()
            .into_iter()
            .map(|run| {
                let mut s = String::new();
                write_padded(&mut s, run.start, run.pad);
                if run.end != run.start {
                    s.push('-');
                    write_padded(&mut s, run.end, run.pad);
                }
                s
            })
            .collect()
    }
    fn fold(&self) -> String {
        self.fold_parts().join(",")
    }

    /// `RangeSet(pattern)`: comma-separated `a`, `a-b`, `a-b/step`. Returns the reason on error.
    fn parse(pattern: &str) -> Result<RangeSet, String> {
        let mut items = Vec::new();
        for subrange in pattern.split(',') {
            let subrange = py_strip(subrange);
            let bad = |msg: &str| {
                if subrange.is_empty() { msg.to_owned() } else { format!("{msg} : \"{subrange}\"") }
            };
            let (baserange, step) = match subrange.split_once('/') {
                None => (subrange, 1),
                Some((base, step)) => {
                    (base, py_int(step).ok_or_else(|| bad("cannot convert string to integer"))?)
                }
            };
            let (mut begin_sign, mut end_sign) = (1, 1);
            let (begin, end);
            if baserange.contains('-') {
                let parts: Vec<&str> = baserange.split('-').map(py_strip).collect();
                match parts[..] {
                    ["", e] => {
                        (begin, end) = (e, e);
                        (begin_sign, end_sign) = (-1, -1);
                    }
                    [b, e] => (begin, end) = (b, e),
                    [_, b, e] => {
                        (begin, end) = (b, e);
                        begin_sign = -1;
                    }
                    [_, b, _, e] => {
                        (begin, end) = (b, e);
                        (begin_sign, end_sign) = (-1, -1);
                    }
                    _ => return Err(bad("too many values in range")),
                }
            } else {
                if step != 1 {
                    return Err(bad("invalid step usage"));
                }
                (begin, end) = (baserange, baserange);
            }
            let convert_error = || {
                bad(if subrange.is_empty() {
                    "empty range"
                } else {
                    "cannot convert string to integer"
                })
            };
            let mut pad = 0;
            let mut endpad = 0;
            let start;
            if py_int(begin).ok_or_else(convert_error)? == 0 {
                if begin.len() > 1 {
                    pad = begin.len();
                }
                start = 0;
            } else {
                let begins = begin.trim_start_matches('0');
                if begin.len() > begins.len() {
                    pad = begin.len();
                }
                start = py_int(begins).ok_or_else(convert_error)?;
            }
            let ends = if py_int(end).ok_or_else(convert_error)? == 0 {
                end
            } else {
                end.trim_start_matches('0')
            };
            if end.len() > ends.len() {
                endpad = end.len();
            }
            if (pad > 0 || endpad > 0) && begin.len() != end.len() {
                return Err(bad("padding length mismatch"));
            }
            let stop = py_int(ends).ok_or_else(convert_error)?;
            if pad > 0 && begin_sign < 0 {
                return Err(bad("padding not supported in negative ranges"));
            }
            if start.abs() > MAX_INDEX || stop.abs() > MAX_INDEX {
                return Err(bad("index too large"));
            }
            if start * begin_sign > stop * end_sign || step < 1 {
                return Err(bad("invalid values in range"));
            }
            let (lo, hi) = (start * begin_sign, stop * end_sign);
            let count = (hi - lo) / step + 1;
            if count > MAX_NODES as i128 || items.len() as i128 + count > MAX_NODES as i128 {
                return Err(bad(&format!(
                    "range of {count} indices is larger than the limit of {MAX_NODES}"
                )));
            }
            let pad = u32::try_from(pad).unwrap_or(u32::MAX);
            let mut value = lo;
            while value <= hi {
                items.push(Idx::new(value as i64, pad));
                value += step;
            }
        }
        Ok(RangeSet::from_unsorted(items))
    }
}

/// Python's `str.isspace`.
fn is_py_space(c: char) -> bool {
    c.is_whitespace() || ('\x1c'..='\x1f').contains(&c)
}
fn py_strip(s: &str) -> &str {
    s.trim_matches(is_py_space)
}
fn py_lstrip(s: &str) -> &str {
    s.trim_start_matches(is_py_space)
}
fn py_rstrip(s: &str) -> &str {
    s.trim_end_matches(is_py_space)
}

/// Python's `int(str)` for ASCII input: whitespace, a sign, digits with single `_` between.
fn py_int(s: &str) -> Option<i128> {
    let s = py_strip(s);
    let (negative, digits) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty()
        || digits.starts_with('_')
        || digits.ends_with('_')
        || digits.contains("__")
    {
        return None;
    }
    let mut value: i128 = 0;
    for b in digits.bytes() {
        match b {
            b'0'..=b'9' => value = value.saturating_mul(10).saturating_add(i128::from(b - b'0')),
            b'_' => {}
            _ => return None,
        }
    }
    Some(if negative { -value } else { value })
}

// ---------------------------------------------------------------------------------------
// n-D range sets (RangeSetND)
// ---------------------------------------------------------------------------------------

/// A list of vectors, each the cartesian product of its `RangeSet`s. `dirty` and
/// `multivar_hint` reproduce ClusterShell's lazy folding, which decides the fold and
/// the expand order.
#[derive(Clone, Debug, Default)]
struct RangeSetNd {
    veclist: Vec<Vec<RangeSet>>,
    dirty: bool,
    multivar_hint: bool,
}

fn vec_len(vec: &[RangeSet]) -> usize {
    vec.iter().fold(1usize, |acc, rs| acc.saturating_mul(rs.len()))
}

impl RangeSetNd {
    fn from_vec(vec: Vec<RangeSet>) -> RangeSetNd {
        RangeSetNd { veclist: vec![vec], dirty: true, multivar_hint: false }
    }
    fn dim(&self) -> usize {
        self.veclist.first().map_or(0, Vec::len)
    }
    fn is_truthy(&self) -> bool {
        !self.veclist.is_empty()
    }
    /// Sum of vector sizes: exact once folded, an upper bound before.
    fn raw_len(&self) -> usize {
        self.veclist.iter().fold(0usize, |acc, v| acc.saturating_add(vec_len(v)))
    }
    fn fold(&mut self) {
        if !self.dirty {
            return;
        }
        if self.veclist.len() > 1 {
            if !self.fold_univariate() {
                self.fold_multivariate();
            }
        } else {
            self.dirty = false;
        }
    }
    fn len(&mut self) -> usize {
        self.fold();
        self.raw_len()
    }
    /// `copy()`: folds, then a fresh object (hint reset).
    fn copy(&mut self) -> RangeSetNd {
        self.fold();
        RangeSetNd { veclist: self.veclist.clone(), dirty: self.dirty, multivar_hint: false }
    }
    /// This set folded: itself when already folded, else a folded copy.
    fn folded(&self) -> std::borrow::Cow<'_, RangeSetNd> {
        if self.dirty {
            std::borrow::Cow::Owned(self.folded_clone())
        } else {
            std::borrow::Cow::Borrowed(self)
        }
    }
    fn folded_clone(&self) -> RangeSetNd {
        let mut c = self.clone();
        c.fold();
        c
    }

    fn fold_univariate(&mut self) -> bool {
        let dim = self.dim();
        let mut vardim = 0;
        let mut dimdiff = 0;
        if dim > 1 {
            for i in 0..dim {
                let first = &self.veclist[0][i];
                if !self.veclist.iter().all(|v| v[i] == *first) {
                    dimdiff += 1;
                    if dimdiff > 1 {
                        break;
                    }
                    vardim = i;
                }
            }
        }
        let univar = dim == 1 || dimdiff == 1;
        if univar {
            let mut merged = std::mem::take(&mut self.veclist[0][vardim]);
            for vec in &self.veclist[1..] {
                merged.union_in_place(&vec[vardim]);
            }
            self.veclist[0][vardim] = merged;
            self.veclist.truncate(1);
            self.dirty = false;
        }
        self.multivar_hint = !univar;
        univar
    }

    fn fold_multivariate(&mut self) {
        // expand [phase 1]
        let mut tuples: Vec<Vec<Idx>> = Vec::new();
        for vec in &self.veclist {
            product(vec, |t| tuples.push(t.to_vec()));
        }
        tuples.sort_unstable();
        tuples.dedup();
        self.veclist =
            tuples.into_iter().map(|t| t.into_iter().map(RangeSet::single).collect()).collect();
        // merge [phase 2]: ClusterShell's pass structure, with two changes that keep its
        // results but not its O(n²) copying: merged-away vectors become tombstones (`None`)
        // dropped at the end of each pass instead of `list.pop(i)`, and a merge updates the
        // surviving vector in place instead of building a new one.
        let mut full = false;
        let mut chg = true;
        while chg {
            chg = false;
            self.sort();
            let mut v: Vec<Option<Vec<RangeSet>>> =
                std::mem::take(&mut self.veclist).into_iter().map(Some).collect();
            let next_live = |v: &[Option<Vec<RangeSet>>], from: usize| {
                (from..v.len()).find(|&i| v[i].is_some()).unwrap_or(v.len())
            };
            let mut index1 = next_live(&v, 0);
            loop {
                let mut index2 = next_live(&v, index1 + 1);
                if index2 >= v.len() {
                    break;
                }
                while index2 < v.len() {
                    let (head, tail) = v.split_at_mut(index2);
                    let item1 = head[index1].as_mut().expect("index1 is live");
                    let item2 = tail[0].as_ref().expect("index2 is live");
                    let verdict = mergeable(item1, item2);
                    if let Merge::No = verdict {
                        if !full {
                            break;
                        }
                        index2 = next_live(&v, index2 + 1);
                        continue;
                    }
                    if let Merge::Along(pos) = verdict {
                        let (rg1, rg2) = (&mut item1[pos], &item2[pos]);
                        if rg1.is_disjoint(rg2) {
                            rg1.union_in_place(rg2);
                        } else if rg1.is_proper_subset(rg2) {
                            *rg1 = rg2.clone();
                        }
                    }
                    chg = true;
                    tail[0] = None;
                    index2 = next_live(&v, index2 + 1);
                }
                index1 = next_live(&v, index1 + 1);
            }
            self.veclist = v.into_iter().flatten().collect();
            if !chg && !full {
                chg = true;
                full = true;
            }
        }
        self.dirty = false;
    }

    /// `_sort`: biggest vectors first, then per dimension (-len, first, last) as strings.
    fn sort(&mut self) {
        type DimKey = (std::cmp::Reverse<usize>, String, String);
        type VecKey = (std::cmp::Reverse<usize>, Vec<DimKey>);
        let mut keyed: Vec<(VecKey, Vec<RangeSet>)> = std::mem::take(&mut self.veclist)
            .into_iter()
            .map(|vec| {
                let dims = vec
                    .iter()
                    .map(|rs| {
                        let first = rs.items.first().map(|i| i.text()).unwrap_or_default();
                        let last = rs.items.last().map(|i| i.text()).unwrap_or_default();
                        (std::cmp::Reverse(rs.len()), first, last)
                    })
                    .collect();
                ((std::cmp::Reverse(vec_len(&vec)), dims), vec)
            })
            .collect();
        keyed.sort_by(|a, b| a.0.cmp(&b.0));
        self.veclist = keyed.into_iter().map(|(_, v)| v).collect();
    }

    fn update(&mut self, other: &RangeSetNd) {
        self.veclist.extend(other.veclist.iter().cloned());
        self.dirty = true;
        if !self.multivar_hint {
            self.fold_univariate();
        }
    }

    fn difference_update(&mut self, other: &RangeSetNd) {
        let mut rgnd_new = Vec::new();
        for rgvec1 in &self.veclist {
            let mut procvx1: Vec<Vec<RangeSet>> = vec![rgvec1.clone()];
            for rgvec2 in &other.veclist {
                let mut nextvx1 = Vec::new();
                for rgproc1 in procvx1.drain(..) {
                    let mut tmpvx = Vec::new();
                    for (pos, (rg1, rg2)) in rgproc1.iter().zip(rgvec2).enumerate() {
                        if rg1.is_subset(rg2) {
                            // covered along this axis
                        } else if !rg1.is_disjoint(rg2) {
                            let mut tmpvec = rgproc1.clone();
                            tmpvec[pos] = rg1.difference(rg2);
                            tmpvx.push(tmpvec);
                        } else {
                            tmpvx = vec![rgproc1.clone()];
                            break;
                        }
                    }
                    nextvx1.extend(tmpvx);
                }
                procvx1 = nextvx1;
            }
            rgnd_new.extend(procvx1);
        }
        self.veclist = rgnd_new;
        self.dirty = true;
    }

    fn intersection_update(&mut self, other: &RangeSetNd) {
        let mut tmp = RangeSetNd::default();
        for rgvec in &self.veclist {
            for ergvec in &other.veclist {
                let irgvec: Vec<RangeSet> =
                    rgvec.iter().zip(ergvec).map(|(a, b)| a.intersection(b)).collect();
                if !irgvec.iter().any(RangeSet::is_empty) {
                    tmp.update(&RangeSetNd {
                        veclist: vec![irgvec],
                        dirty: true,
                        multivar_hint: false,
                    });
                }
            }
        }
        tmp.fold();
        self.veclist = tmp.veclist;
        self.dirty = true;
    }

    fn symmetric_difference_update(&mut self, other: &RangeSetNd) {
        let mut other = other.folded_clone();
        let mut diff2 = other.copy();
        diff2.difference_update(self);
        self.difference_update(&other);
        self.update(&diff2);
    }

    fn contains(&self, idx: &[Idx]) -> bool {
        self.veclist
            .iter()
            .any(|vec| vec.len() == idx.len() && vec.iter().zip(idx).all(|(rs, i)| rs.contains(*i)))
    }
}

/// The first `needle` in `text` before byte `limit` (the whole text when `None`).
fn find_before(text: &str, needle: char, limit: Option<usize>) -> Option<usize> {
    text[..limit.unwrap_or(text.len())].find(needle)
}

/// Whether two vectors of the same dimension merge into one: equal, or differing along
/// exactly one axis where the ranges are disjoint or one contains the other.
enum Merge {
    Same,
    Along(usize),
    No,
}

fn mergeable(item1: &[RangeSet], item2: &[RangeSet]) -> Merge {
    let mut along = None;
    for (pos, (rg1, rg2)) in item1.iter().zip(item2).enumerate() {
        if rg1 == rg2 {
            continue;
        }
        let merges = rg1.is_disjoint(rg2) || rg1.is_proper_subset(rg2) || rg2.is_proper_subset(rg1);
        if !merges || along.is_some() {
            return Merge::No;
        }
        along = Some(pos);
    }
    along.map_or(Merge::Same, Merge::Along)
}

/// Calls `f` with every tuple of the cartesian product, first dimension slowest.
fn product(vec: &[RangeSet], mut f: impl FnMut(&[Idx])) {
    if vec.iter().any(RangeSet::is_empty) {
        return;
    }
    let mut pos = vec![0usize; vec.len()];
    let mut tuple: Vec<Idx> = vec.iter().map(|rs| rs.items[0]).collect();
    loop {
        f(&tuple);
        let mut d = vec.len();
        loop {
            if d == 0 {
                return;
            }
            d -= 1;
            pos[d] += 1;
            if pos[d] < vec[d].len() {
                tuple[d] = vec[d].items[pos[d]];
                break;
            }
            pos[d] = 0;
            tuple[d] = vec[d].items[0];
        }
    }
}

// ---------------------------------------------------------------------------------------
// Pattern → indices map (NodeSetBase)
// ---------------------------------------------------------------------------------------

#[derive(Clone, Debug)]
enum Ranges {
    One(RangeSet),
    Nd(RangeSetNd),
}

impl Ranges {
    fn is_truthy(&self) -> bool {
        match self {
            Ranges::One(rs) => !rs.is_empty(),
            Ranges::Nd(nd) => nd.is_truthy(),
        }
    }
    fn len(&mut self) -> usize {
        match self {
            Ranges::One(rs) => rs.len(),
            Ranges::Nd(nd) => nd.len(),
        }
    }
    fn raw_len(&self) -> usize {
        match self {
            Ranges::One(rs) => rs.len(),
            Ranges::Nd(nd) => nd.raw_len(),
        }
    }
    fn copy(&self) -> Ranges {
        match self {
            Ranges::One(rs) => Ranges::One(rs.clone()),
            Ranges::Nd(nd) => Ranges::Nd(nd.clone().copy()),
        }
    }
    fn from_rsets(mut rsets: Vec<RangeSet>) -> Option<Ranges> {
        match rsets.len() {
            0 => None,
            1 => rsets.pop().map(Ranges::One),
            _ => Some(Ranges::Nd(RangeSetNd::from_vec(rsets))),
        }
    }
}

type Patterns = BTreeMap<String, Option<Ranges>>;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Union,
    Difference,
    Intersection,
    SymmetricDifference,
}

impl Op {
    fn from_byte(b: u8) -> Option<Op> {
        match b {
            b',' => Some(Op::Union),
            b'!' => Some(Op::Difference),
            b'&' => Some(Op::Intersection),
            b'^' => Some(Op::SymmetricDifference),
            _ => None,
        }
    }
    fn symbol(self) -> char {
        match self {
            Op::Union => ',',
            Op::Difference => '!',
            Op::Intersection => '&',
            Op::SymmetricDifference => '^',
        }
    }
}

fn base_single(pat: String, ranges: Option<Ranges>) -> Patterns {
    let mut p = Patterns::new();
    p.insert(pat, ranges);
    p
}

fn base_apply(this: &mut Patterns, op: Op, other: &Patterns) {
    match op {
        Op::Union => base_update(this, other),
        Op::Difference => base_difference_update(this, other),
        Op::Intersection => base_intersection_update(this, other),
        Op::SymmetricDifference => base_symmetric_difference_update(this, other),
    }
}

fn base_add(this: &mut Patterns, pat: &str, ranges: Option<&Ranges>) {
    if let Some(entry) = this.get_mut(pat) {
        match (entry, ranges) {
            (Some(Ranges::One(a)), Some(Ranges::One(b))) if !a.is_empty() => a.union_in_place(b),
            (Some(Ranges::Nd(a)), Some(Ranges::Nd(b))) if a.is_truthy() => a.update(b),
            _ => {}
        }
    } else {
        let copied = ranges.map(|r| if r.is_truthy() { r.copy() } else { r.clone() });
        this.insert(pat.to_owned(), copied);
    }
}

fn base_update(this: &mut Patterns, other: &Patterns) {
    for (pat, ranges) in other {
        base_add(this, pat, ranges.as_ref());
    }
}

fn base_intersection_update(this: &mut Patterns, other: &Patterns) {
    let mut tmp = Patterns::new();
    for (pat, iranges) in other {
        match (this.get_mut(pat), iranges) {
            (Some(Some(ranges)), Some(iranges)) if ranges.is_truthy() => {
                let mut irset = match (ranges, iranges) {
                    (Ranges::One(a), Ranges::One(b)) => Ranges::One(a.intersection(b)),
                    (Ranges::Nd(a), Ranges::Nd(b)) => {
                        let mut copy = a.copy();
                        copy.intersection_update(b);
                        Ranges::Nd(copy)
                    }
                    _ => continue,
                };
                if irset.len() > 0 {
                    tmp.insert(pat.clone(), Some(irset));
                }
            }
            (Some(_), None) => {
                tmp.insert(pat.clone(), None);
            }
            _ => {}
        }
    }
    *this = tmp;
}

fn base_difference_update(this: &mut Patterns, other: &Patterns) {
    let mut purge = Vec::new();
    for (pat, eranges) in other {
        match this.get_mut(pat) {
            Some(Some(ranges)) if ranges.is_truthy() => {
                match (&mut *ranges, eranges) {
                    (Ranges::One(a), Some(Ranges::One(b))) => *a = a.difference(b),
                    (Ranges::Nd(a), Some(Ranges::Nd(b))) => a.difference_update(b),
                    _ => {}
                }
                if ranges.len() == 0 {
                    purge.push(pat.clone());
                }
            }
            Some(_) => purge.push(pat.clone()),
            None => {}
        }
    }
    for pat in purge {
        this.remove(&pat);
    }
}

fn base_symmetric_difference_update(this: &mut Patterns, other: &Patterns) {
    let mut purge = Vec::new();
    for (pat, ranges) in this.iter_mut() {
        match (ranges, other.get(pat)) {
            (Some(ranges), Some(Some(branges))) if branges.is_truthy() => match (ranges, branges) {
                (Ranges::One(a), Ranges::One(b)) => *a = a.symmetric_difference(b),
                (Ranges::Nd(a), Ranges::Nd(b)) => a.symmetric_difference_update(b),
                _ => {}
            },
            (_, Some(_)) => purge.push(pat.clone()),
            _ => {}
        }
    }
    for (pat, branges) in other {
        if !this.contains_key(pat) {
            base_add(this, pat, branges.as_ref());
        }
    }
    for (pat, ranges) in this.iter_mut() {
        if let Some(ranges) = ranges
            && ranges.len() == 0
        {
            purge.push(pat.clone());
        }
    }
    for pat in purge {
        this.remove(&pat);
    }
}

/// Upper bound of the node count that never folds (folding early could change the result).
fn base_len_bound(this: &Patterns) -> usize {
    this.values().fold(0usize, |acc, r| acc.saturating_add(r.as_ref().map_or(1, Ranges::raw_len)))
}

fn base_len_exact(this: &Patterns) -> usize {
    this.values().fold(0usize, |acc, r| {
        acc.saturating_add(match r {
            None => 1,
            Some(Ranges::One(rs)) => rs.len(),
            Some(Ranges::Nd(nd)) => nd.folded_clone().raw_len(),
        })
    })
}

/// Substitutes `args` for the `%s` of `pat` and unescapes `%%`.
fn render(out: &mut String, pat: &str, args: &[&str]) {
    let mut args = args.iter();
    let mut chars = pat.chars();
    while let Some(c) = chars.next() {
        if c == '%' {
            match chars.next() {
                Some('s') => out.push_str(args.next().copied().unwrap_or("")),
                Some(other) => out.push(other),
                None => out.push('%'),
            }
        } else {
            out.push(c);
        }
    }
}

/// Expanded names in `nodeset -e` order; n-D patterns must be folded.
fn base_names(this: &Patterns) -> Vec<String> {
    let mut names = Vec::new();
    for (pat, ranges) in this {
        match ranges {
            None => {
                let mut s = String::new();
                render(&mut s, pat, &[]);
                names.push(s);
            }
            Some(Ranges::One(rs)) => {
                for idx in &rs.items {
                    let mut s = String::with_capacity(pat.len() + 4);
                    render(&mut s, pat, &[&idx.text()]);
                    names.push(s);
                }
            }
            Some(Ranges::Nd(nd)) => {
                let nd = nd.folded();
                for vec in &nd.veclist {
                    product(vec, |tuple| {
                        let texts: Vec<String> = tuple.iter().map(|i| i.text()).collect();
                        let args: Vec<&str> = texts.iter().map(String::as_str).collect();
                        let mut s = String::new();
                        render(&mut s, pat, &args);
                        names.push(s);
                    });
                }
            }
        }
    }
    names
}

fn bracketed(rs: &RangeSet) -> String {
    if rs.len() > 1 { format!("[{}]", rs.fold()) } else { rs.fold() }
}

/// `str(NodeSetBase)`; n-D patterns must be folded.
fn base_fold(this: &Patterns) -> String {
    let mut parts: Vec<String> = Vec::new();
    for (pat, ranges) in this {
        let mut s = String::new();
        match ranges {
            None => render(&mut s, pat, &[]),
            Some(Ranges::One(rs)) => render(&mut s, pat, &[&bracketed(rs)]),
            Some(Ranges::Nd(nd)) => {
                let nd = nd.folded();
                for vec in &nd.veclist {
                    let texts: Vec<String> = vec.iter().map(bracketed).collect();
                    let args: Vec<&str> = texts.iter().map(String::as_str).collect();
                    let mut one = String::new();
                    render(&mut one, pat, &args);
                    parts.push(one);
                }
                continue;
            }
        }
        parts.push(s);
    }
    parts.join(",")
}

// ---------------------------------------------------------------------------------------
// Parsing (ParsingEngine)
// ---------------------------------------------------------------------------------------

struct Parser<'a> {
    expr: &'a str,
}

struct Token {
    op: Op,
    pat: String,
    rsets: Vec<RangeSet>,
    position: usize,
}

fn next_op(s: &str) -> Option<(usize, Op)> {
    s.bytes().enumerate().find_map(|(i, b)| Op::from_byte(b).map(|op| (i, op)))
}

impl<'a> Parser<'a> {
    fn error(&self, position: usize, reason: impl Into<String>) -> NodeSetError {
        NodeSetError { expr: self.expr.to_owned(), position, reason: reason.into() }
    }
    /// Byte offset of `sub`, a slice of the expression.
    fn pos(&self, sub: &str) -> usize {
        (sub.as_ptr() as usize).saturating_sub(self.expr.as_ptr() as usize).min(self.expr.len())
    }

    /// `_scan_string_single`: a name without brackets or operators.
    fn scan_single(&self, s: &str) -> Result<(String, Vec<RangeSet>), NodeSetError> {
        if s.is_empty() {
            return Err(self.error(self.pos(s), "parse error: empty node name"));
        }
        let mut pat = String::with_capacity(s.len() + 4);
        let mut rsets = Vec::new();
        let bytes = s.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            let start = i;
            while i < bytes.len() && !bytes[i].is_ascii_digit() {
                i += 1;
            }
            pat.push_str(&s[start..i].replace('%', "%%"));
            let dstart = i;
            while i < bytes.len() && bytes[i].is_ascii_digit() {
                i += 1;
            }
            if i > dstart {
                let digits = &s[dstart..i];
                let value = py_int(digits).filter(|v| *v <= MAX_INDEX).ok_or_else(|| {
                    self.error(self.pos(s) + dstart, format!("index too large : \"{digits}\""))
                })?;
                pat.push_str("%s");
                rsets.push(RangeSet::single(Idx::new(value as i64, (i - dstart) as u32)));
            }
        }
        Ok((pat, rsets))
    }

    fn amend_leading<'s>(
        &self,
        outer: &'s str,
        inner: &str,
        at: usize,
    ) -> Result<(&'s str, String), NodeSetError> {
        let strip = outer.trim_end_matches(|c: char| c.is_ascii_digit());
        if strip.len() == outer.len() {
            return Ok((outer, inner.to_owned()));
        }
        let digits = &outer[strip.len()..];
        let rs = RangeSet::parse(inner).map_err(|reason| self.error(at, reason))?;
        let inner = rs
            .fold_parts()
            .iter()
            .map(|elem| {
                elem.split('-')
                    .map(|bound| format!("{digits}{bound}"))
                    .collect::<Vec<_>>()
                    .join("-")
            })
            .collect::<Vec<_>>()
            .join(",");
        Ok((strip, inner))
    }

    fn amend_trailing<'s>(
        &self,
        outer: &'s str,
        inner: &str,
        at: usize,
    ) -> Result<(&'s str, String), NodeSetError> {
        let strip = outer.trim_start_matches(|c: char| c.is_ascii_digit());
        if strip.len() == outer.len() {
            return Ok((outer, inner.to_owned()));
        }
        if inner.contains('/') {
            return Err(self.error(at, "illegal trailing digits after range with steps"));
        }
        let digits = &outer[..outer.len() - strip.len()];
        let inner = inner
            .split(',')
            .map(|elem| {
                let s = elem
                    .split('-')
                    .map(|bound| format!("{bound}{digits}"))
                    .collect::<Vec<_>>()
                    .join("-");
                if s.contains('-') { format!("{s}/1{}", "0".repeat(digits.len())) } else { s }
            })
            .collect::<Vec<_>>()
            .join(",");
        Ok((strip, inner))
    }

    /// `_scan_string`: the sequence of (operator, pattern, range sets).
    fn scan(&self, stripped: &'a str) -> Result<Vec<Token>, NodeSetError> {
        let mut tokens = Vec::new();
        let mut next_op_code = Op::Union;
        let mut rest = Some(stripped).filter(|s| !s.is_empty());
        while let Some(current) = rest {
            let current = py_lstrip(current);
            let position = self.pos(current);
            let op = next_op_code;
            let mut rsets = Vec::new();
            let (mut op_idx, mut nop) = next_op(current).unzip();
            // Only a bracket before the next operator matters: searching no further keeps
            // scanning linear in the length of the expression.
            let mut bracket_idx = find_before(current, '[', op_idx);
            let before =
                |b: Option<usize>, o: Option<usize>| b.is_some_and(|b| o.is_none_or(|o| o > b));
            let newpat;
            if before(bracket_idx, op_idx) {
                let mut pat = String::new();
                let mut sfx: &str = current;
                while before(bracket_idx, op_idx) {
                    let Some((pfx, after)) = sfx.split_once('[') else { break };
                    let Some((rng_text, after)) = after.split_once(']') else {
                        return Err(self.error(self.pos(after) - 1, "missing bracket"));
                    };
                    sfx = after;
                    let rng_pos = self.pos(rng_text);
                    if let Some(i) = pfx.find(']') {
                        return Err(self.error(self.pos(pfx) + i, "illegal closing bracket"));
                    }
                    if !sfx.is_empty() {
                        let bra_end = sfx.find(']');
                        let bra_start = sfx.find('[').or(bra_end.map(|e| e + 1)).unwrap_or(0);
                        if let Some(end) = bra_end
                            && end < bra_start
                        {
                            return Err(self.error(self.pos(sfx) + end, "illegal closing bracket"));
                        }
                    }
                    let mut rng = rng_text.to_owned();
                    if !sfx.is_empty() {
                        (sfx, rng) = self.amend_trailing(sfx, &rng, rng_pos)?;
                    }
                    let mut pfx_pat = String::new();
                    if !pfx.is_empty() {
                        let pfx_strip;
                        (pfx_strip, rng) = self.amend_leading(pfx, &rng, rng_pos)?;
                        if !pfx_strip.is_empty() {
                            let pfx_rsets;
                            (pfx_pat, pfx_rsets) = self.scan_single(pfx_strip)?;
                            rsets.extend(pfx_rsets);
                        }
                    }
                    op_idx = next_op(sfx).map(|(i, _)| i);
                    bracket_idx = find_before(sfx, '[', op_idx);
                    if sfx.starts_with('[') {
                        return Err(self.error(self.pos(sfx), "illegal reopening bracket"));
                    }
                    pat.push_str(&pfx_pat);
                    pat.push_str("%s");
                    rsets
                        .push(RangeSet::parse(&rng).map_err(|reason| self.error(rng_pos, reason))?);
                }
                (op_idx, nop) = next_op(sfx).unzip();
                match op_idx {
                    None => rest = None,
                    Some(i) => {
                        let after = &sfx[i + 1..];
                        sfx = &sfx[..i];
                        if after.is_empty() {
                            let symbol = nop.map_or(',', Op::symbol);
                            return Err(self.error(
                                self.pos(after) - 1,
                                format!("missing nodeset operand with '{symbol}' operator"),
                            ));
                        }
                        rest = Some(after);
                    }
                }
                let sfx = py_rstrip(sfx);
                if !sfx.is_empty() {
                    let (sfx_pat, sfx_rsets) = self.scan_single(sfx)?;
                    pat.push_str(&sfx_pat);
                    rsets.extend(sfx_rsets);
                }
                newpat = pat;
            } else {
                let node;
                match op_idx {
                    None => {
                        node = current;
                        rest = None;
                    }
                    Some(i) => {
                        node = &current[..i];
                        let after = &current[i + 1..];
                        if node.is_empty() || after.is_empty() {
                            let symbol = nop.map_or(',', Op::symbol);
                            return Err(self.error(
                                position + i,
                                format!("missing nodeset operand with '{symbol}' operator"),
                            ));
                        }
                        rest = Some(after);
                    }
                }
                if let Some(i) = node.find(']') {
                    return Err(self.error(self.pos(node) + i, "illegal closing bracket"));
                }
                (newpat, rsets) = self.scan_single(py_rstrip(node))?;
            }
            next_op_code = nop.unwrap_or(Op::Union);
            tokens.push(Token { op, pat: newpat, rsets, position });
        }
        Ok(tokens)
    }

    /// `parse_string`: scan, resolve groups and wildcards, apply operators left to right.
    fn parse(&self, groups: &dyn GroupSource) -> Result<Patterns, NodeSetError> {
        let tokens = self.scan(py_strip(self.expr))?;
        let mut nodeset = Patterns::new();
        let mut all_nodes: Option<NodeSet> = None;
        // An upper bound on the set's size, kept per operation so the size guard costs
        // O(1) per token; the exact size is computed only when the bound passes the limit.
        let mut bound = 0usize;
        for token in tokens {
            if token.rsets.iter().any(|rs| rs.len() > MAX_NODES)
                || vec_len(&token.rsets) > MAX_NODES
            {
                return Err(
                    self.error(token.position, format!("expands to more than {MAX_NODES} nodes"))
                );
            }
            let ranges = Ranges::from_rsets(token.rsets);
            let operand = if token.pat.starts_with('@') {
                let mut group_set = Patterns::new();
                for name in base_names(&base_single(token.pat, ranges)) {
                    let group = groups.group(&name[1..]).ok_or_else(|| {
                        self.error(token.position, format!("unknown group {name}"))
                    })?;
                    base_update(&mut group_set, &group.patterns);
                }
                group_set
            } else if token.pat.contains('*') || token.pat.contains('?') {
                if all_nodes.is_none() {
                    all_nodes = Some(groups.group("*").ok_or_else(|| {
                        self.error(
                            token.position,
                            "wildcard needs the list of all nodes (@*), which is not available",
                        )
                    })?);
                }
                let all: Vec<&str> =
                    all_nodes.as_ref().map(|a| a.iter().collect()).unwrap_or_default();
                let mut matched = vec![false; all.len()];
                let mut wildcard_set = Patterns::new();
                for mask in base_names(&base_single(token.pat, ranges)) {
                    for (name, seen) in all.iter().zip(matched.iter_mut()) {
                        if !*seen && glob_match(&mask, name) {
                            *seen = true;
                            base_update(&mut wildcard_set, &single_node(name).patterns);
                        }
                    }
                }
                wildcard_set
            } else {
                base_single(token.pat, ranges)
            };
            if matches!(token.op, Op::Union | Op::SymmetricDifference) {
                bound = bound.saturating_add(base_len_bound(&operand));
            }
            base_apply(&mut nodeset, token.op, &operand);
            if bound > MAX_NODES {
                bound = base_len_exact(&nodeset);
                if bound > MAX_NODES {
                    return Err(self
                        .error(token.position, format!("expands to more than {MAX_NODES} nodes")));
                }
            }
        }
        Ok(nodeset)
    }
}

/// `fnmatch` with `*` and `?` (brackets never reach here: the parser consumed them).
fn glob_match(mask: &str, name: &str) -> bool {
    let (m, n): (Vec<char>, Vec<char>) = (mask.chars().collect(), name.chars().collect());
    let (mut mi, mut ni) = (0, 0);
    let mut backtrack: Option<(usize, usize)> = None;
    while ni < n.len() {
        if mi < m.len() && (m[mi] == '?' || m[mi] == n[ni]) {
            mi += 1;
            ni += 1;
        } else if mi < m.len() && m[mi] == '*' {
            backtrack = Some((mi, ni));
            mi += 1;
        } else if let Some((bm, bn)) = backtrack {
            mi = bm + 1;
            ni = bn + 1;
            backtrack = Some((bm, bn + 1));
        } else {
            return false;
        }
    }
    m[mi..].iter().all(|c| *c == '*')
}

/// One literal node name (`_fromlist1`): no operators, no brackets.
fn single_node(name: &str) -> NodeSet {
    let parser = Parser { expr: name };
    let patterns = match parser.scan_single(name) {
        Ok((pat, rsets)) => base_single(pat, Ranges::from_rsets(rsets)),
        Err(_) if name.is_empty() => Patterns::new(),
        Err(_) => base_single(name.replace('%', "%%"), None),
    };
    NodeSet::from_patterns(patterns)
}

// ---------------------------------------------------------------------------------------
// Public type
// ---------------------------------------------------------------------------------------

/// A set of node names, ordered and folded like ClusterShell.
#[derive(Debug, Clone, Default)]
pub struct NodeSet {
    /// Pattern → indices; n-D entries are always folded.
    patterns: Patterns,
    /// Expanded names, computed on the first `iter()`.
    names: OnceLock<Vec<String>>,
}

impl PartialEq for NodeSet {
    fn eq(&self, other: &Self) -> bool {
        fn tuples(nd: &RangeSetNd) -> Vec<Vec<Idx>> {
            let mut out = Vec::new();
            for vec in &nd.veclist {
                product(vec, |t| out.push(t.to_vec()));
            }
            out.sort_unstable();
            out.dedup();
            out
        }
        self.patterns.len() == other.patterns.len()
            && self.patterns.iter().zip(&other.patterns).all(|((pa, ra), (pb, rb))| {
                pa == pb
                    && match (ra, rb) {
                        (None, None) => true,
                        (Some(Ranges::One(a)), Some(Ranges::One(b))) => a == b,
                        (Some(Ranges::Nd(a)), Some(Ranges::Nd(b))) => tuples(a) == tuples(b),
                        _ => false,
                    }
            })
    }
}
impl Eq for NodeSet {}

impl NodeSet {
    /// Parses a ClusterShell node-set expression, resolving `@groups` through `groups`.
    pub fn parse(expr: &str, groups: &dyn GroupSource) -> Result<NodeSet, NodeSetError> {
        let patterns = Parser { expr }.parse(groups)?;
        Ok(NodeSet::from_patterns(patterns))
    }

    /// `NodeSet.update(NodeSetBase)` into an empty set: every n-D entry is copied, i.e. folded.
    fn from_patterns(patterns: Patterns) -> NodeSet {
        let mut set = NodeSet { patterns, names: OnceLock::new() };
        set.normalize();
        set
    }

    fn normalize(&mut self) {
        for ranges in self.patterns.values_mut() {
            if let Some(Ranges::Nd(nd)) = ranges {
                nd.fold();
                nd.multivar_hint = false;
            }
        }
        self.names = OnceLock::new();
    }

    /// A set of literal node names (no expression syntax is interpreted).
    pub fn from_names<I: IntoIterator<Item = S>, S: Into<String>>(names: I) -> NodeSet {
        // Same result as adding the names one by one, without the quadratic cost.
        let mut patterns = Patterns::new();
        let mut one_dim: BTreeMap<String, Vec<Idx>> = BTreeMap::new();
        for name in names {
            let name: String = name.into();
            match (Parser { expr: &name }).scan_single(&name) {
                Ok((pat, rsets)) if rsets.len() == 1 => {
                    one_dim.entry(pat).or_default().push(rsets[0].items[0])
                }
                Ok((pat, rsets)) => {
                    base_add(&mut patterns, &pat, Ranges::from_rsets(rsets).as_ref())
                }
                Err(_) => base_update(&mut patterns, &single_node(&name).patterns),
            }
        }
        for (pat, items) in one_dim {
            patterns.insert(pat, Some(Ranges::One(RangeSet::from_unsorted(items))));
        }
        NodeSet::from_patterns(patterns)
    }

    pub fn len(&self) -> usize {
        base_len_exact(&self.patterns)
    }

    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    pub fn contains(&self, name: &str) -> bool {
        let Ok((pat, rsets)) = (Parser { expr: name }).scan_single(name) else { return false };
        match self.patterns.get(&pat) {
            Some(None) => rsets.is_empty(),
            Some(Some(Ranges::One(rs))) => rsets.len() == 1 && rs.contains(rsets[0].items[0]),
            Some(Some(Ranges::Nd(nd))) => {
                let idx: Vec<Idx> = rsets.iter().map(|rs| rs.items[0]).collect();
                nd.contains(&idx)
            }
            None => false,
        }
    }

    /// Names in `nodeset -e` order.
    pub fn iter(&self) -> impl Iterator<Item = &str> + '_ {
        self.names.get_or_init(|| base_names(&self.patterns)).iter().map(String::as_str)
    }

    /// Adds every node of `other` (`,`).
    pub fn union(&mut self, other: &NodeSet) {
        base_update(&mut self.patterns, &other.patterns);
        self.normalize();
    }

    /// Removes every node of `other` (`!`).
    pub fn difference(&mut self, other: &NodeSet) {
        base_difference_update(&mut self.patterns, &other.patterns);
        self.normalize();
    }

    /// Keeps only nodes also in `other` (`&`).
    pub fn intersection(&mut self, other: &NodeSet) {
        base_intersection_update(&mut self.patterns, &other.patterns);
        self.normalize();
    }

    /// Keeps nodes in exactly one of the two sets (`^`).
    pub fn symmetric_difference(&mut self, other: &NodeSet) {
        base_symmetric_difference_update(&mut self.patterns, &other.patterns);
        self.normalize();
    }

    /// The folded form, exactly as `nodeset -f` prints it.
    pub fn fold(&self) -> String {
        base_fold(&self.patterns)
    }
}

impl fmt::Display for NodeSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.fold())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Expected values come from ClusterShell 1.9.1's `nodeset -e` / `nodeset -f`.
    #[track_caller]
    fn check(expr: &str, expand: &str, fold: &str) {
        let set = NodeSet::parse(expr, &NoGroups).unwrap_or_else(|e| panic!("{expr:?}: {e}"));
        assert_eq!(set.iter().collect::<Vec<_>>().join(" "), expand, "expand of {expr:?}");
        assert_eq!(set.fold(), fold, "fold of {expr:?}");
        assert_eq!(set.len(), set.iter().count(), "len of {expr:?}");
    }

    #[track_caller]
    fn check_error(expr: &str, position: usize, reason_part: &str) {
        let err = NodeSet::parse(expr, &NoGroups).expect_err(expr);
        assert_eq!(err.position, position, "{err}");
        assert!(err.reason.contains(reason_part), "{err}");
    }

    #[test]
    fn expand_and_fold() {
        check("", "", "");
        check(
            "web[01-10]",
            "web01 web02 web03 web04 web05 web06 web07 web08 web09 web10",
            "web[01-10]",
        );
        check("r[1-2]n[1-2]", "r1n1 r1n2 r2n1 r2n2", "r[1-2]n[1-2]");
        check("r1n[1-2],r2n[1-2],r3n1", "r1n1 r1n2 r2n1 r2n2 r3n1", "r[1-2]n[1-2],r3n1");
        check("n[1-3]!n2", "n1 n3", "n[1,3]");
        check("n[08-11],n9,n010", "n9 n08 n09 n10 n11 n010", "n[9,08-11,010]");
        check("a,b[1-2]&b2", "b2", "b2");
        check("n[1-5]^n[4-8]", "n1 n2 n3 n6 n7 n8", "n[1-3,6-8]");
        check(" n1 , n2 ", "n1 n2", "n[1-2]");
        check("x[1-2]y[1-2]!x1y1", "x2y1 x2y2 x1y2", "x2y[1-2],x1y2");
        check("n1[0-2]", "n10 n11 n12", "n[10-12]");
        check("n[1-2]5", "n15 n25", "n[15,25]");
        check("5[1-2]", "51 52", "[51-52]");
        check("a%b[1-2]", "a%b1 a%b2", "a%b[1-2]");
        check("n[-2-2]", "n-2 n-1 n0 n1 n2", "n[-2-2]");
        check("node[1-9/2]", "node1 node3 node5 node7 node9", "node[1,3,5,7,9]");
        check(
            "r[1-2]c[1-2]n[1-2]!r1c1n1",
            "r2c1n1 r2c1n2 r2c2n1 r2c2n2 r1c2n1 r1c2n2 r1c1n2",
            "r2c[1-2]n[1-2],r1c2n[1-2],r1c1n2",
        );
        check("login,mgmt,login", "login mgmt", "login,mgmt");
    }

    #[test]
    fn malformed_expressions_name_the_position() {
        check_error("web[1-", 3, "missing bracket");
        check_error("n[3-1]", 2, "invalid values in range");
        check_error("a[]", 2, "empty range");
        check_error("a[1-2", 1, "missing bracket");
        check_error("a,", 1, "missing nodeset operand");
        check_error("@", 0, "unknown group @");
        check_error("n,@nope", 2, "unknown group @nope");
        check_error("n[1-2][3]", 6, "illegal reopening bracket");
        check_error("n[1-100000000]", 2, "larger than the limit");
        check_error("a[1-1000]b[1-1000]c[1-2]", 0, "more than 1000000 nodes");
        check_error("a[1-600000],b[1-600000]", 12, "more than 1000000 nodes");
    }

    struct Groups;
    impl GroupSource for Groups {
        fn group(&self, name: &str) -> Option<NodeSet> {
            match name {
                "workers" => Some(NodeSet::from_names(["w1", "w2", "w3"])),
                "role:web" => Some(NodeSet::from_names(["web01", "web02"])),
                "*" => Some(NodeSet::from_names(["w1", "w2", "w3", "web01", "web02", "db1"])),
                _ => None,
            }
        }
    }

    #[test]
    fn groups_labels_all_and_wildcards() {
        let fold = |expr: &str| NodeSet::parse(expr, &Groups).unwrap().fold();
        assert_eq!(fold("@workers!w2"), "w[1,3]");
        assert_eq!(fold("@role:web,db1"), "db1,web[01-02]");
        assert_eq!(fold("@*!@workers"), "db1,web[01-02]");
        assert_eq!(fold("w*"), "w[1-3],web[01-02]");
        assert_eq!(fold("w?"), "w[1-3]");
        assert!(NodeSet::parse("w*", &NoGroups).is_err());
    }

    #[test]
    fn set_operations_and_membership() {
        let mut set = NodeSet::parse("n[1-10]", &NoGroups).unwrap();
        set.difference(&NodeSet::from_names(["n3", "n4"]));
        assert_eq!(set.fold(), "n[1-2,5-10]");
        set.intersection(&NodeSet::parse("n[2-6]", &NoGroups).unwrap());
        assert_eq!(set.fold(), "n[2,5-6]");
        set.symmetric_difference(&NodeSet::parse("n[6-7]", &NoGroups).unwrap());
        assert_eq!(set.to_string(), "n[2,5,7]");
        set.union(&NodeSet::from_names(["login"]));
        assert_eq!(set.len(), 4);
        assert!(set.contains("n5") && set.contains("login") && !set.contains("n05"));
        assert_eq!(set, NodeSet::parse("n7,login,n[2,5]", &NoGroups).unwrap());
    }

    #[test]
    fn large_sets_fold_quickly() {
        let set = NodeSet::parse("n[1-100000]!n[500-600]", &NoGroups).unwrap();
        assert_eq!(set.len(), 99_899);
        assert_eq!(set.fold(), "n[1-499,601-100000]");
        let names: Vec<String> = set.iter().map(str::to_owned).collect();
        assert_eq!(NodeSet::from_names(names).fold(), "n[1-499,601-100000]");
        let grid = NodeSet::parse("r[1-100]n[1-1000]", &NoGroups).unwrap();
        assert_eq!(grid.len(), 100_000);
        assert_eq!(grid.fold(), "r[1-100]n[1-1000]");
    }
}

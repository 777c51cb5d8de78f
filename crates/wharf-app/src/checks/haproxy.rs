//! `haproxy`: every server of the environment's nodes is UP in HAProxy's statistics, read
//! as CSV from a stats URL (`…/stats;csv`) or from the stats socket (`show stat`).
//!
//! Which servers: the server rows (not `FRONTEND`/`BACKEND`) of the configured backends
//! (all backends when none are configured) whose `svname` is one of the environment's
//! nodes; when no server is named after a node, every server of those backends. A server
//! passes when its status starts with `UP` (also `UP 1/3`, still taking traffic while its
//! checks fail) or is `no check`. `DOWN`, `MAINT`, `DRAIN`, `NOLB` and everything else
//! fail: a server that takes no new traffic is not one to deploy behind.

use std::path::Path;
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use wharf_core::config::HaproxyStats;

use super::Verdict;
use super::http::{cause, get, human, shown};

pub(super) async fn check(
    stats: &HaproxyStats,
    backends: &[String],
    nodes: &[String],
    timeout: Duration,
) -> Verdict {
    let (csv, from) = match stats {
        HaproxyStats::Url(url) => {
            let csv = get(url, timeout).await.and_then(|answer| match answer.status {
                200 => Ok(answer.body),
                status => Err(format!("answered {status}, expected 200")),
            });
            (csv, shown(url))
        }
        HaproxyStats::Socket(path) => {
            (show_stat(path, timeout).await, format!("unix:{}", path.display()))
        }
    };
    match csv {
        Ok(csv) => judge(&csv, backends, nodes),
        Err(why) => Verdict::fail(vec![format!("cannot reach haproxy stats at {from}: {why}")]),
    }
}

/// `show stat` on the stats socket at `path`: HAProxy answers and closes the connection.
async fn show_stat(path: &Path, timeout: Duration) -> Result<String, String> {
    let exchange = async {
        let mut socket = tokio::net::UnixStream::connect(path).await?;
        socket.write_all(b"show stat\n").await?;
        let mut csv = String::new();
        socket.read_to_string(&mut csv).await?;
        Ok::<_, std::io::Error>(csv)
    };
    match tokio::time::timeout(timeout, exchange).await {
        Ok(Ok(csv)) => Ok(csv),
        Ok(Err(err)) => Err(cause(&err)),
        Err(_) => Err(format!("no answer within {}", human(timeout))),
    }
}

/// One server row.
struct Server<'a> {
    backend: &'a str,
    name: &'a str,
    status: &'a str,
}

impl Server<'_> {
    fn is_up(&self) -> bool {
        self.status.starts_with("UP") || self.status == "no check"
    }

    fn describe(&self) -> String {
        format!("{}/{} {}", self.backend, self.name, self.status)
    }
}

/// The verdict on a `show stat` CSV: pure, so it is tested table-style.
fn judge(csv: &str, backends: &[String], nodes: &[String]) -> Verdict {
    let servers = match servers(csv) {
        Ok(servers) => servers,
        Err(why) => return Verdict::fail(vec![why]),
    };
    let selected: Vec<&Server<'_>> = servers
        .iter()
        .filter(|s| backends.is_empty() || backends.iter().any(|b| b == s.backend))
        .collect();
    let of_nodes: Vec<&Server<'_>> =
        selected.iter().copied().filter(|s| nodes.iter().any(|node| node == s.name)).collect();
    let (judged, which) = if of_nodes.is_empty() {
        (selected, "server(s)")
    } else {
        (of_nodes, "server(s) of the environment's nodes")
    };
    if judged.is_empty() {
        let mut known: Vec<&str> = servers.iter().map(|s| s.backend).collect();
        known.dedup();
        return Verdict::fail(vec![format!(
            "no server in backends {backends:?}; haproxy has servers in: {}",
            known.join(", ")
        )]);
    }
    let down: Vec<String> = judged.iter().filter(|s| !s.is_up()).map(|s| s.describe()).collect();
    if down.is_empty() {
        let up: Vec<String> = judged
            .iter()
            .map(|s| match s.status {
                "UP" => format!("{}/{}", s.backend, s.name),
                status => format!("{}/{} ({status})", s.backend, s.name),
            })
            .collect();
        Verdict::pass(vec![format!("{} {which} UP: {}", up.len(), up.join(", "))])
    } else {
        Verdict::fail(down)
    }
}

/// The server rows of a stats CSV (`# pxname,svname,…,status,…` then one row a proxy or
/// server).
fn servers(csv: &str) -> Result<Vec<Server<'_>>, String> {
    let mut lines = csv.lines();
    let header = lines
        .next()
        .and_then(|line| line.strip_prefix("# "))
        .ok_or("not HAProxy stats CSV: no `# pxname,svname,…` header line")?;
    let column = |name: &str| {
        header
            .split(',')
            .position(|field| field == name)
            .ok_or_else(|| format!("not HAProxy stats CSV: the header has no `{name}` column"))
    };
    let (px, sv, st) = (column("pxname")?, column("svname")?, column("status")?);
    Ok(lines
        .filter(|line| !line.trim().is_empty() && !line.starts_with('#'))
        .filter_map(|line| {
            let fields: Vec<&str> = line.split(',').collect();
            let (backend, name) = (*fields.get(px)?, *fields.get(sv)?);
            let status = *fields.get(st)?;
            let proxy_row = name == "FRONTEND" || name == "BACKEND";
            (!proxy_row).then_some(Server { backend, name, status })
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    const CSV: &str = "# pxname,svname,qcur,status,weight\n\
        stats,FRONTEND,,OPEN,\n\
        web,web01,0,UP,1\n\
        web,web02,0,DOWN,1\n\
        web,web03,0,MAINT,1\n\
        web,BACKEND,0,UP,3\n\
        api,api01,0,no check,1\n\
        api,api02,0,UP 1/3,1\n";

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn servers_of_the_environments_nodes_must_be_up() {
        // backends, nodes, passed, evidence
        type Case =
            (&'static [&'static str], &'static [&'static str], bool, &'static [&'static str]);
        let cases: &[Case] = &[
            (&[], &["web01"], true, &["1 server(s) of the environment's nodes UP: web/web01"]),
            (&[], &["web01", "web02"], false, &["web/web02 DOWN"]),
            (&[], &["web03"], false, &["web/web03 MAINT"]),
            (
                &["api"],
                &["db01"],
                true,
                &["2 server(s) UP: api/api01 (no check), api/api02 (UP 1/3)"],
            ),
            (&["web"], &["db01"], false, &["web/web02 DOWN", "web/web03 MAINT"]),
            (
                &[],
                &["web01", "api01"],
                true,
                &["2 server(s) of the environment's nodes UP: web/web01, api/api01 (no check)"],
            ),
            (
                &["db"],
                &["web01"],
                false,
                &["no server in backends [\"db\"]; haproxy has servers in: web, api"],
            ),
        ];
        for (backends, nodes, passed, evidence) in cases {
            let verdict = judge(CSV, &names(backends), &names(nodes));
            assert_eq!(verdict, Verdict { passed: *passed, evidence: names(evidence) });
        }
    }

    #[test]
    fn what_is_not_stats_csv_fails_saying_so() {
        for (csv, why) in [
            ("<html>", "no `# pxname,svname,…` header"),
            ("# pxname,svname,qcur\nweb,web01,0\n", "no `status` column"),
        ] {
            let verdict = judge(csv, &[], &[]);
            assert!(!verdict.passed && verdict.evidence[0].contains(why), "{verdict:?}");
        }
    }
}

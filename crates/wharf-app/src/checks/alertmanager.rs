//! `alertmanager`: no active, unsilenced, uninhibited alert matches the configured labels
//! with one of the configured severities. Asks API v2,
//! `GET /api/v2/alerts?active=true&silenced=false&inhibited=false&filter=label="value"…`,
//! and checks the answer again itself (state, silences, labels, severity), so an
//! Alertmanager that ignores a parameter cannot pass the check by accident.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;
use wharf_core::config::ENVIRONMENT_PLACEHOLDER;

use super::Verdict;
use super::http::{get, shown};

#[derive(Debug, Deserialize)]
struct Alert {
    #[serde(default)]
    labels: BTreeMap<String, String>,
    status: Option<AlertStatus>,
}

#[derive(Debug, Deserialize)]
struct AlertStatus {
    #[serde(default)]
    state: String,
    #[serde(default, rename = "silencedBy")]
    silenced_by: Vec<String>,
    #[serde(default, rename = "inhibitedBy")]
    inhibited_by: Vec<String>,
}

pub(super) async fn check(
    url: &str,
    matchers: &BTreeMap<String, String>,
    severities: &[String],
    environment: &str,
    timeout: Duration,
) -> Verdict {
    let matchers: BTreeMap<String, String> = matchers
        .iter()
        .map(|(label, value)| (label.clone(), value.replace(ENVIRONMENT_PLACEHOLDER, environment)))
        .collect();
    let api = alerts_url(url, &matchers);
    let unreachable = |why: String| {
        Verdict::fail(vec![format!("cannot reach alertmanager at {}: {why}", shown(url))])
    };
    let answer = match get(&api, timeout).await {
        Ok(answer) if answer.status == 200 => answer,
        Ok(answer) => return unreachable(format!("answered {}, expected 200", answer.status)),
        Err(why) => return unreachable(why),
    };
    match serde_json::from_str::<Vec<Alert>>(&answer.body) {
        Ok(alerts) => judge(&alerts, &matchers, severities),
        Err(err) => unreachable(format!("not an API v2 list of alerts: {err}")),
    }
}

/// `URL/api/v2/alerts?active=true&silenced=false&inhibited=false&filter=…`, one
/// `label="value"` filter a matcher (values quoted as the matcher syntax wants).
fn alerts_url(url: &str, matchers: &BTreeMap<String, String>) -> String {
    let mut query = String::from("active=true&silenced=false&inhibited=false");
    for (label, value) in matchers {
        let quoted = value.replace('\\', "\\\\").replace('"', "\\\"");
        query.push_str("&filter=");
        query.push_str(&encode(&format!("{label}=\"{quoted}\"")));
    }
    format!("{url}/api/v2/alerts?{query}")
}

/// Percent-encode everything but unreserved characters.
fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 3);
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// The verdict on the alerts Alertmanager returned: pure, so it is tested table-style.
fn judge(alerts: &[Alert], matchers: &BTreeMap<String, String>, severities: &[String]) -> Verdict {
    let severity_ok = |alert: &Alert| {
        severities.is_empty()
            || alert.labels.get("severity").is_some_and(|s| severities.contains(s))
    };
    let firing = |alert: &&Alert| {
        let active = alert.status.as_ref().is_none_or(|status| {
            status.state == "active"
                && status.silenced_by.is_empty()
                && status.inhibited_by.is_empty()
        });
        active
            && severity_ok(alert)
            && matchers.iter().all(|(label, value)| alert.labels.get(label) == Some(value))
    };
    let evidence: Vec<String> = alerts.iter().filter(firing).map(describe).collect();
    if evidence.is_empty() {
        let severity = if severities.is_empty() { "any".to_owned() } else { severities.join("|") };
        let labels = labels(matchers);
        Verdict::pass(vec![format!(
            "no active, unsilenced alert matches {labels} with severity {severity}"
        )])
    } else {
        Verdict::fail(evidence)
    }
}

/// `HighErrorRate {env="gprd", severity="critical"}`.
fn describe(alert: &Alert) -> String {
    let name = alert.labels.get("alertname").map_or("(no alertname)", String::as_str);
    let others: BTreeMap<String, String> = alert
        .labels
        .iter()
        .filter(|(k, _)| *k != "alertname")
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    format!("{name} {}", labels(&others))
}

fn labels(labels: &BTreeMap<String, String>) -> String {
    let pairs: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
    format!("{{{}}}", pairs.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    fn alert(labels: &[(&str, &str)], state: &str, silenced: bool) -> Alert {
        let status = AlertStatus {
            state: state.to_owned(),
            silenced_by: if silenced { vec!["id".to_owned()] } else { vec![] },
            inhibited_by: vec![],
        };
        Alert { labels: map(labels), status: Some(status) }
    }

    #[test]
    fn matching_active_alerts_fail_the_check() {
        let gprd = map(&[("env", "gprd")]);
        let critical = vec!["critical".to_owned()];
        let fire = [("alertname", "Down"), ("env", "gprd"), ("severity", "critical")];
        let verdict = judge(&[alert(&fire, "active", false)], &gprd, &critical);
        let evidence = vec!["Down {env=\"gprd\", severity=\"critical\"}".to_owned()];
        assert_eq!(verdict, Verdict::fail(evidence));
        for (alerts, why) in [
            (vec![alert(&fire, "suppressed", true)], "silenced"),
            (vec![alert(&fire, "active", true)], "silenced but said active"),
            (
                vec![alert(&[("env", "gstg"), ("severity", "critical")], "active", false)],
                "other env",
            ),
            (vec![alert(&[("env", "gprd"), ("severity", "warning")], "active", false)], "warning"),
            (vec![], "none"),
        ] {
            let verdict = judge(&alerts, &gprd, &critical);
            assert!(verdict.passed, "{why}: {verdict:?}");
        }
        let warning = [("env", "gprd"), ("severity", "warning")];
        assert!(!judge(&[alert(&warning, "active", false)], &gprd, &[]).passed, "any severity");
    }

    #[test]
    fn filters_are_quoted_and_encoded() {
        let url = alerts_url("http://am:9093", &map(&[("env", "g\"p rd")]));
        assert_eq!(
            url,
            "http://am:9093/api/v2/alerts?active=true&silenced=false&inhibited=false\
             &filter=env%3D%22g%5C%22p%20rd%22"
        );
    }
}

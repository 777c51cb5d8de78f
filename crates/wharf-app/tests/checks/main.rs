//! The configured prepare checks against the real components they ask: a real `haproxy`
//! and a real `prometheus-alertmanager` (started and killed by the tests), a tiny local
//! HTTP server, and `sh` — alone, and as the prepare checks of a deploy.

mod alertmanager;
mod command;
mod deploy;
mod haproxy;
mod http;
mod support;

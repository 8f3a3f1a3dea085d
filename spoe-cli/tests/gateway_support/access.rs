//! The access lines of one set of requests, as HAProxy and the gateway wrote them, compared
//! field by field.

use std::time::Duration;

/// Waits (up to 10 s) until both logs hold a line for each request (`"GET /path HTTP/1.1"`,
/// as quoted in the line), then asserts that the whitespace-separated `fields` of each
/// request's line are the same in both.
pub(crate) fn assert_same_fields(
    haproxy_log: impl Fn() -> String,
    gateway_log: impl Fn() -> String,
    requests: &[String],
    fields: &[usize],
) {
    let logged = |log: &str| -> Vec<Option<String>> {
        requests
            .iter()
            .map(|r| {
                let line = log
                    .lines()
                    .find(|l| l.contains(&format!("\"{r} HTTP/1.1\"")))?;
                let f: Vec<&str> = line.split_whitespace().collect();
                fields
                    .iter()
                    .map(|&i| f.get(i).copied())
                    .collect::<Option<Vec<_>>>()
                    .map(|v| v.join(" "))
            })
            .collect()
    };
    let complete = |log: &str| logged(log).iter().all(Option::is_some);
    assert!(
        super::wait_until(Duration::from_secs(10), || complete(&haproxy_log())
            && complete(&gateway_log())),
        "--- haproxy:\n{}\n--- gateway:\n{}",
        haproxy_log(),
        gateway_log()
    );
    let (hap, gw) = (logged(&haproxy_log()), logged(&gateway_log()));
    for ((r, h), g) in requests.iter().zip(&hap).zip(&gw) {
        assert_eq!(g, h, "{r}: access line fields {fields:?}");
    }
}

/// Waits (up to 10 s) until both logs hold at least `n` of the lines `lines` picks out (asserting
/// they do), then returns a message for each pair of lines, in order, that differ.
pub(crate) fn line_diffs(
    haproxy_log: impl Fn() -> String,
    gateway_log: impl Fn() -> String,
    lines: impl Fn(&str) -> Vec<String>,
    n: usize,
) -> Vec<String> {
    let logged = super::wait_until(Duration::from_secs(10), || {
        lines(&haproxy_log()).len() >= n && lines(&gateway_log()).len() >= n
    });
    let (hl, gl) = (lines(&haproxy_log()), lines(&gateway_log()));
    assert!(logged, "access lines:\n{hl:#?}\n{gl:#?}");
    hl.iter()
        .zip(&gl)
        .filter(|(h, g)| h != g)
        .map(|(h, g)| format!("access line:\n  haproxy {h}\n  gateway {g}"))
        .collect()
}

//! "did you mean": the known keyword closest to a misspelt one, as HAProxy
//! 2.6 suggests (`unknown keyword 'default_backen' in 'frontend' section; did
//! you mean 'default_backend' maybe ?`).

/// The candidate closest to `word` by edit distance (insertions, deletions,
/// substitutions, and swaps of two neighbours), when it is close enough to be
/// a typo: at most 2 edits, and at most a third of the word's length.
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let w: Vec<char> = word.chars().collect();
    candidates
        .into_iter()
        .filter(|c| *c != word)
        .map(|c| (distance(&w, &c.chars().collect::<Vec<_>>()), c))
        .filter(|(d, _)| *d <= 2 && d.saturating_mul(3) <= w.len())
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// `"; did you mean 'X' maybe ?"` when there is a suggestion, else empty.
pub(crate) fn suffix<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> String {
    did_you_mean(word, candidates)
        .map(|s| format!("; did you mean '{s}' maybe ?"))
        .unwrap_or_default()
}

/// Optimal string alignment distance.
fn distance(a: &[char], b: &[char]) -> usize {
    let (n, m) = (a.len(), b.len());
    let mut d = vec![vec![0usize; m + 1]; n + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=n {
        for j in 1..=m {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = v;
        }
    }
    d[n][m]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typos_find_their_keyword() {
        let kw = ["default_backend", "use_backend", "timeout", "bind"];
        assert_eq!(did_you_mean("default_backen", kw), Some("default_backend"));
        assert_eq!(did_you_mean("timeot", kw), Some("timeout"));
        assert_eq!(did_you_mean("tiemout", kw), Some("timeout"));
        assert_eq!(did_you_mean("use-backend", kw), Some("use_backend"));
        // Too far, or too short to guess.
        assert_eq!(did_you_mean("frobnicate", kw), None);
        assert_eq!(did_you_mean("bd", ["bind", "acl"]), None);
        assert_eq!(did_you_mean("bid", ["bind", "acl"]), Some("bind"));
        assert_eq!(did_you_mean("bind", kw), None);
        assert_eq!(
            suffix("spoe-agnet", ["spoe-agent", "spoe-message"]),
            "; did you mean 'spoe-agent' maybe ?"
        );
    }
}

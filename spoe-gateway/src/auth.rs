//! `userlist` sections at run time: the users, their groups and passwords, and the check of
//! `Authorization: Basic` credentials behind `http_auth(L)` and `http_auth_group(L)`
//! (HAProxy 2.6's `check_user()` in `src/auth.c`).
//!
//! A password is compared as HAProxy compares it: `insecure-password` as written, `password`
//! through crypt(3) (`$1$`, `$5$`, `$6$`, `$2a$`/`$2b$`/`$2y$`, DES, and yescrypt `$y$`, the
//! schemes Debian's libxcrypt gives HAProxy 2.6), the result equal to the hash.
//!
//! crypt(3) is slow on purpose (SHA-crypt's 5000 rounds take about a millisecond, bcrypt at
//! cost 10 tens of milliseconds), and a browser sends its credentials with every request. So
//! the serving threads never run it: before a request's rules, [`Userlists::prepare`] checks
//! the credentials on tokio's blocking pool (at most [`MAX_CRYPT_JOBS`] at once: a flood of
//! wrong passwords waits there, it does not take the threads), and the rules read the
//! verdict. Verified pairs are remembered for the generation (a reload starts afresh, as its
//! userlists may have changed), at most [`MAX_CACHED`] of them, each as a salted SHA-256
//! digest rather than the password itself; HAProxy keeps no such cache and runs crypt(3) on
//! its threads at each check.

use std::collections::HashSet;
use std::sync::Mutex;

use tokio::sync::Semaphore;

/// How many crypt(3) runs may wait on the blocking pool at once.
pub(crate) const MAX_CRYPT_JOBS: usize = 2;

/// How many verified (user, password) pairs a generation remembers.
pub(crate) const MAX_CACHED: usize = 4096;

/// A user's password, as its line gives it.
#[derive(Debug, Clone)]
pub(crate) enum Password {
    /// `insecure-password P`: compared as written.
    Insecure(String),
    /// `password HASH`: crypt(3) of the password given must be HASH.
    Crypt(String),
    /// No password: no credentials match.
    None,
}

/// `user NAME ...`.
#[derive(Debug, Clone)]
pub(crate) struct User {
    pub(crate) name: String,
    pub(crate) password: Password,
    /// Indexes in the userlist's `groups`.
    pub(crate) groups: Vec<usize>,
}

/// `userlist NAME`.
#[derive(Debug, Clone, Default)]
pub(crate) struct Userlist {
    pub(crate) name: String,
    /// In file order; the first of a name is the one checked (HAProxy ignores later ones).
    pub(crate) users: Vec<User>,
    /// The group names.
    pub(crate) groups: Vec<String>,
}

impl Userlist {
    fn user(&self, name: &str) -> Option<&User> {
        self.users.iter().find(|u| u.name == name)
    }
}

/// The `userlist` sections of a configuration, with the generation's verified pairs.
pub(crate) struct Userlists {
    pub(crate) lists: Vec<Userlist>,
    /// Digests of (list, user, password) found valid.
    verified: Mutex<HashSet<[u8; 32]>>,
    /// The per-generation salt of the digests.
    salt: [u8; 16],
    /// The blocking pool's share.
    jobs: Semaphore,
}

/// The lists only: the salt is random per generation (two readings of one file must compare
/// equal) and neither it nor the verified digests belong in a log.
impl std::fmt::Debug for Userlists {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Userlists")
            .field("lists", &self.lists)
            .finish_non_exhaustive()
    }
}

impl Default for Userlists {
    fn default() -> Self {
        Self::new(Vec::new())
    }
}

/// The verdicts [`Userlists::prepare`] reached for one request's credentials.
#[derive(Debug, Clone, Default)]
pub(crate) struct Verdicts {
    user: String,
    pass: String,
    /// Per userlist (index): whether the pair is valid.
    valid: Vec<bool>,
}

impl Userlists {
    /// The userlists read from the configuration.
    pub(crate) fn new(lists: Vec<Userlist>) -> Self {
        use ring::rand::SecureRandom as _;
        let mut salt = [0u8; 16];
        // Without the system's randomness the digests are still distinct; only their
        // guessability differs.
        let _ = ring::rand::SystemRandom::new().fill(&mut salt);
        Self {
            lists,
            verified: Mutex::new(HashSet::new()),
            salt,
            jobs: Semaphore::new(MAX_CRYPT_JOBS),
        }
    }

    /// The userlist called `name`.
    pub(crate) fn get(&self, name: &str) -> Option<(usize, &Userlist)> {
        self.lists.iter().enumerate().find(|(_, l)| l.name == name)
    }

    fn digest(&self, list: usize, user: &str, pass: &str) -> [u8; 32] {
        let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
        ctx.update(&self.salt);
        ctx.update(&list.to_be_bytes());
        ctx.update(user.as_bytes());
        ctx.update(&[0]);
        ctx.update(pass.as_bytes());
        let mut out = [0u8; 32];
        out.copy_from_slice(ctx.finish().as_ref());
        out
    }

    fn remembered(&self, list: usize, user: &str, pass: &str) -> bool {
        let d = self.digest(list, user, pass);
        self.verified.lock().is_ok_and(|v| v.contains(&d))
    }

    fn remember(&self, list: usize, user: &str, pass: &str) {
        let d = self.digest(list, user, pass);
        if let Ok(mut v) = self.verified.lock() {
            // Bounded: a full set starts afresh (its pairs verify again once).
            if v.len() >= MAX_CACHED {
                v.clear();
            }
            v.insert(d);
        }
    }

    /// Whether `user`/`pass` are valid in userlist `list`, without crypt(3) when the pair
    /// was verified before or `verdicts` holds it: `None` when only crypt(3) can tell.
    fn quick(
        &self,
        list: usize,
        user: &str,
        pass: &str,
        verdicts: Option<&Verdicts>,
    ) -> Option<bool> {
        let u = self.lists.get(list)?.user(user);
        let Some(u) = u else { return Some(false) };
        match &u.password {
            Password::None => Some(false),
            Password::Insecure(p) => Some(p == pass),
            Password::Crypt(_) if self.remembered(list, user, pass) => Some(true),
            Password::Crypt(_) => verdicts
                .filter(|v| v.user == user && v.pass == pass)
                .and_then(|v| v.valid.get(list).copied()),
        }
    }

    /// HAProxy's `check_user()`: whether `user`/`pass` are valid in userlist `list`. Runs
    /// crypt(3) here only when [`prepare`](Self::prepare) did not see these credentials (a
    /// rule rewrote `Authorization` in between).
    pub(crate) fn check(
        &self,
        list: usize,
        user: &str,
        pass: &str,
        verdicts: Option<&Verdicts>,
    ) -> bool {
        if let Some(v) = self.quick(list, user, pass, verdicts) {
            return v;
        }
        let valid = self.lists[list]
            .user(user)
            .is_some_and(|u| matches!(&u.password, Password::Crypt(h) if crypt_matches(pass, h)));
        if valid {
            self.remember(list, user, pass);
        }
        valid
    }

    /// The groups of `user` in userlist `list`.
    pub(crate) fn groups(&self, list: usize, user: &str) -> Vec<&str> {
        let Some(l) = self.lists.get(list) else {
            return Vec::new();
        };
        l.user(user)
            .map(|u| {
                u.groups
                    .iter()
                    .filter_map(|g| l.groups.get(*g))
                    .map(String::as_str)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Checks the request's `Authorization: Basic` credentials against every userlist where
    /// crypt(3) must run, on the blocking pool; `None` when nothing needed it.
    pub(crate) async fn prepare(&self, headers: &hyper::HeaderMap) -> Option<Verdicts> {
        let Some(spoe_http::Credentials::Basic { user, pass }) = spoe_http::credentials(headers)
        else {
            return None;
        };
        let pending: Vec<(usize, String)> = self
            .lists
            .iter()
            .enumerate()
            .filter(|(i, _)| self.quick(*i, &user, &pass, None).is_none())
            .filter_map(|(i, l)| match &l.user(&user)?.password {
                Password::Crypt(h) => Some((i, h.clone())),
                _ => None,
            })
            .collect();
        if pending.is_empty() {
            return None;
        }
        let mut valid = vec![false; self.lists.len()];
        let permit = self.jobs.acquire().await.ok()?;
        let p = pass.clone();
        let results = tokio::task::spawn_blocking(move || {
            pending
                .into_iter()
                .map(|(i, hash)| (i, crypt_matches(&p, &hash)))
                .collect::<Vec<_>>()
        })
        .await
        .unwrap_or_default();
        drop(permit);
        for (i, ok) in results {
            if ok {
                self.remember(i, &user, &pass);
            }
            valid[i] = ok;
        }
        Some(Verdicts { user, pass, valid })
    }
}

/// Whether crypt(3) of `pass` with the settings of `hash` is `hash` (HAProxy's
/// `strcmp(crypt(pass, hash), hash) == 0`).
pub(crate) fn crypt_matches(pass: &str, hash: &str) -> bool {
    if hash.starts_with("$y$") {
        use yescrypt::PasswordVerifier as _;
        return yescrypt::Yescrypt::default()
            .verify_password(pass.as_bytes(), hash)
            .is_ok();
    }
    pwhash::unix::crypt(pass, hash).is_ok_and(|h| h == hash)
}

/// Whether crypt(3) knows the scheme of `hash` (HAProxy's `crypt("", hash)` at load time):
/// the message says what is expected otherwise.
pub(crate) fn crypt_supported(hash: &str) -> bool {
    if hash.starts_with("$y$") {
        use yescrypt::PasswordVerifier as _;
        return matches!(
            yescrypt::Yescrypt::default().verify_password(b"", hash),
            Ok(()) | Err(yescrypt::password_hash::Error::PasswordInvalid)
        );
    }
    pwhash::unix::crypt("", hash).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    // Made with `openssl passwd` and Debian's crypt(3) (libxcrypt), password "s3cret".
    const SHA512: &str = "$6$saltsalt$As4wrv0kZlfch1du9WeH7qhskyLriQWySXrZzynnvi46nFnNxjdpl6ksRegrrKexvhIa/Iny8S8uF3fVWTMuC1";
    const SHA256: &str = "$5$saltsalt$i1q2ZQzc.tl/BQ6CHiENAcVDvEY6nJ1OWlWXKh94b1.";
    const MD5: &str = "$1$saltsalt$RwMqRjSWhXMKbW72DwzGd1";
    const BCRYPT: &str = "$2b$04$abcdefghijklmnopqrstuuLZYjhNQAOdpbzt4WxWlUHjv1wsyH5DG";
    const YESCRYPT: &str =
        "$y$j9T$abcdefghijklmnopqrstu1$FLQtsIuowj8716dO8If0k7pWcUDTjdxiadprSjMx7m8";
    const DES: &str = "abhWCwoTZY2c6";

    #[test]
    fn crypt_as_libxcrypt() {
        for hash in [SHA512, SHA256, MD5, BCRYPT, YESCRYPT, DES] {
            assert!(crypt_supported(hash), "{hash}");
            assert!(crypt_matches("s3cret", hash), "{hash}");
            assert!(!crypt_matches("s3cres", hash), "{hash}");
        }
        assert!(!crypt_supported("$9$nothing"));
        assert!(!crypt_supported("$y$garbage"));
    }

    fn lists() -> Userlists {
        Userlists::new(vec![Userlist {
            name: "L".into(),
            users: vec![
                User {
                    name: "ann".into(),
                    password: Password::Crypt(SHA256.into()),
                    groups: vec![0],
                },
                User {
                    name: "bob".into(),
                    password: Password::Insecure("pw".into()),
                    groups: vec![0, 1],
                },
            ],
            groups: vec!["ops".into(), "dev".into()],
        }])
    }

    #[tokio::test]
    async fn prepare_checks_off_thread_and_remembers() {
        let l = lists();
        let mut h = hyper::HeaderMap::new();
        // ann:s3cret
        h.insert("authorization", "Basic YW5uOnMzY3JldA==".parse().unwrap());
        let v = l.prepare(&h).await.unwrap();
        assert!(l.quick(0, "ann", "s3cret", Some(&v)).unwrap());
        // Remembered: the next request needs no crypt(3).
        assert!(l.prepare(&h).await.is_none());
        assert!(l.check(0, "ann", "s3cret", None));
        assert!(!l.check(0, "ann", "wrong", None));
        assert!(l.check(0, "bob", "pw", None));
        assert!(!l.check(0, "carl", "pw", None));
        assert_eq!(l.groups(0, "bob"), ["ops", "dev"]);
    }
}

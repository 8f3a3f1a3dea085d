//! Differential tests against `openssl ciphers` (OpenSSL 3, which HAProxy 2.6 links on Debian):
//! every alias alone, and the strings real configurations use, must select the same suites in
//! the same order, and be refused where OpenSSL refuses them. Fails (never skips) when
//! `openssl` is missing (test.sh installs it).

use std::process::Command;

use super::*;

/// `openssl ciphers -v [-ciphersuites S] RULE`: the TLS 1.2-and-below names and the TLS 1.3
/// names, or `None` when OpenSSL refuses the string.
fn openssl(rule: &str, ciphersuites: Option<&str>) -> Option<(Vec<String>, Vec<String>)> {
    let mut cmd = Command::new("openssl");
    cmd.args(["ciphers", "-v"]);
    if let Some(s) = ciphersuites {
        cmd.args(["-ciphersuites", s]);
    }
    let out = cmd
        .arg(rule)
        .output()
        .unwrap_or_else(|e| panic!("cannot run openssl (test.sh installs it): {e}"));
    if !out.status.success() {
        return None;
    }
    let (mut old, mut tls13) = (Vec::new(), Vec::new());
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let mut words = line.split_whitespace();
        let (Some(name), Some(version)) = (words.next(), words.next()) else {
            continue;
        };
        match version {
            "TLSv1.3" => tls13.push(name.to_owned()),
            _ => old.push(name.to_owned()),
        }
    }
    Some((old, tls13))
}

fn ours(rule: &str) -> Option<Vec<String>> {
    evaluate(rule)
        .ok()
        .map(|l| l.suites.iter().map(|s| s.name.to_owned()).collect())
}

/// The strings: every alias alone, then the shapes real haproxy.cfg files use (Mozilla's
/// modern, intermediate and old lists, distribution defaults, hand-written expressions), and
/// strings OpenSSL refuses.
const STRINGS: &[&str] = &[
    // Aliases.
    "ALL",
    "COMPLEMENTOFALL",
    "COMPLEMENTOFDEFAULT",
    "DEFAULT",
    "HIGH",
    "MEDIUM",
    "LOW",
    "FIPS",
    "eNULL",
    "NULL",
    "aNULL",
    "kRSA",
    "aRSA",
    "RSA",
    "kEDH",
    "kDHE",
    "DH",
    "EDH",
    "DHE",
    "ADH",
    "kEECDH",
    "kECDHE",
    "ECDH",
    "EECDH",
    "ECDHE",
    "AECDH",
    "aECDSA",
    "ECDSA",
    "aDSS",
    "DSS",
    "kPSK",
    "kRSAPSK",
    "kECDHEPSK",
    "kDHEPSK",
    "PSK",
    "aPSK",
    "kSRP",
    "SRP",
    "aSRP",
    "kGOST",
    "aGOST",
    "GOST",
    "AES",
    "AES128",
    "AES256",
    "AESGCM",
    "AESCCM",
    "AESCCM8",
    "CAMELLIA",
    "CAMELLIA128",
    "CAMELLIA256",
    "CHACHA20",
    "ARIA",
    "ARIAGCM",
    "ARIA128",
    "ARIA256",
    "CBC",
    "3DES",
    "RC4",
    "DES",
    "SEED",
    "IDEA",
    "MD5",
    "SHA1",
    "SHA",
    "SHA256",
    "SHA384",
    "SSLv3",
    "TLSv1",
    "TLSv1.0",
    "TLSv1.2",
    "TLSv1.3",
    "DTLSv1",
    "PROFILE=SYSTEM",
    "ECDHE-RSA-AES128-GCM-SHA256",
    "TLS_AES_128_GCM_SHA256",
    // Mozilla intermediate (v5) and modern TLS 1.2 lists, and old.
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384",
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384:DHE-RSA-CHACHA20-POLY1305:ECDHE-ECDSA-AES128-SHA256:ECDHE-RSA-AES128-SHA256:ECDHE-ECDSA-AES128-SHA:ECDHE-RSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA384:ECDHE-RSA-AES256-SHA384:ECDHE-ECDSA-AES256-SHA:ECDHE-RSA-AES256-SHA:DHE-RSA-AES128-SHA256:DHE-RSA-AES256-SHA256:AES128-GCM-SHA256:AES256-GCM-SHA384:AES128-SHA256:AES256-SHA256:AES128-SHA:AES256-SHA:DES-CBC3-SHA",
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-SHA384:ECDHE-RSA-AES256-SHA384:ECDHE-ECDSA-AES128-SHA256:ECDHE-RSA-AES128-SHA256",
    // Expressions.
    "ECDH+AESGCM:DH+AESGCM:ECDH+AES256:DH+AES256:ECDH+AES128:DH+AES:RSA+AESGCM:RSA+AES:!aNULL:!MD5:!DSS",
    "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-AES256-GCM-SHA384:DHE-RSA-AES128-GCM-SHA256:DHE-DSS-AES128-GCM-SHA256:kEDH+AESGCM:ECDHE-RSA-AES128-SHA256:ECDHE-ECDSA-AES128-SHA256:ECDHE-RSA-AES128-SHA:ECDHE-ECDSA-AES128-SHA:ECDHE-RSA-AES256-SHA384:ECDHE-ECDSA-AES256-SHA384:ECDHE-RSA-AES256-SHA:ECDHE-ECDSA-AES256-SHA:DHE-RSA-AES128-SHA256:DHE-RSA-AES128-SHA:DHE-DSS-AES128-SHA256:DHE-RSA-AES256-SHA256:DHE-DSS-AES256-SHA:DHE-RSA-AES256-SHA:!aNULL:!eNULL:!EXPORT:!DES:!RC4:!3DES:!MD5:!PSK",
    "HIGH:!aNULL:!MD5",
    "HIGH:!aNULL:!MD5:!3DES:!CAMELLIA:!AES128",
    "EECDH+AESGCM:EDH+AESGCM:AES256+EECDH:AES256+EDH",
    "EECDH+AESGCM:EDH+AESGCM",
    "ECDHE+AESGCM:ECDHE+CHACHA20:!aNULL:!SHA1:!SHA256:!SHA384",
    "ECDH+AESGCM:ECDH+CHACHA20:ECDH+AES256:ECDH+AES128:!aNULL:!SHA1:!AESCCM",
    "ECDH+AESGCM:ECDH+CHACHA20:!aNULL:!MD5:!DSS",
    "kEECDH+aECDSA+AES128:kEECDH+aRSA+AES128:kEECDH+aECDSA+AES256:kEECDH+aRSA+AES256:kEECDH+aECDSA+3DES:kEECDH+aRSA+3DES:-SHA:!aNULL:!eNULL:!LOW:!kECDH:!DSS:!MD5:!EXP:!PSK:!SRP:!CAMELLIA:!SEED",
    "DEFAULT:!MEDIUM:!3DES",
    "DEFAULT:!ECDSA",
    "DEFAULT@SECLEVEL=2",
    "HIGH:@STRENGTH",
    "ALL:+RSA:@STRENGTH",
    "AES:ALL:!aNULL:!eNULL:+RC4:@STRENGTH",
    "ALL:-ECDHE:ECDHE-RSA-AES128-GCM-SHA256:ECDHE",
    "HIGH:-ALL:ECDHE:+AES128",
    "TLSv1.2+HIGH:!aNULL",
    "ECDHE-RSA-AES128-GCM-SHA256+aRSA",
    "FIPS:!aNULL",
    "ECDH+AESGCM;RSA ECDH,AES",
    "HIGH!aNULL",
    "HIGH@STRENGTH",
    "FOO+ECDH:ECDH+AESGCM+FOO:ECDHE",
    "AES128+AES256",
    "HIGH:@SECLEVEL=0",
    // Refused.
    "ECDH+AESGCM:@FOO",
    "@SECLEVEL=7:HIGH",
    "AESGCM+",
    "ECDH+AES%GCM",
    "PROFILE=SYSTEM:FOO",
    "!ALL",
    "",
];

#[test]
fn same_suites_in_the_same_order_as_openssl() {
    let mut wrong = Vec::new();
    for rule in STRINGS {
        let theirs = openssl(rule, None).map(|(old, _)| old);
        let mine = ours(rule);
        // `openssl ciphers` lists nothing (and succeeds) for an empty string; OpenSSL's
        // `SSL_CTX_set_cipher_list` refuses it as HAProxy would.
        let theirs = theirs.filter(|t| !t.is_empty());
        if mine != theirs {
            wrong.push(format!(
                "'{rule}':\n  openssl: {theirs:?}\n  ours:    {mine:?}"
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn the_table_is_openssl_s() {
    let (all, _) = openssl("ALL:COMPLEMENTOFALL", None).expect("openssl ciphers ALL");
    let mut theirs = all;
    theirs.sort();
    let mut mine: Vec<String> = TABLE.iter().map(|s| s.name.to_owned()).collect();
    mine.sort();
    assert_eq!(
        mine, theirs,
        "table.rs is not OpenSSL's table: run table.py"
    );
}

#[test]
fn tls13_lists_as_openssl() {
    for list in [
        "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256",
        "TLS_AES_256_GCM_SHA384:TLS_AES_128_GCM_SHA256",
        "TLS_CHACHA20_POLY1305_SHA256",
        "FOO:TLS_AES_128_CCM_SHA256",
        " TLS_AES_128_GCM_SHA256 : TLS_AES_256_GCM_SHA384",
        "TLS_AES_128_GCM_SHA256,TLS_AES_256_GCM_SHA384",
        "FOO",
        "TLS_AES_128_GCM_SHA256:TLS_AES_128_GCM_SHA256",
    ] {
        let theirs = openssl("ALL", Some(list)).map(|(_, t)| t);
        let mine = tls13_suites(list)
            .ok()
            .map(|l| l.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>());
        assert_eq!(mine, theirs, "'{list}'");
    }
}

#[test]
fn errors_name_what_is_wrong() {
    assert_eq!(
        evaluate("PROFILE=SYSTEM"),
        Err(CipherStringError::NoCipherMatch)
    );
    assert_eq!(
        evaluate("HIGH:@SECLEVEL=9"),
        Err(CipherStringError::InvalidCommand("@SECLEVEL=9".into()))
    );
    assert_eq!(evaluate("HIGH:@SECLEVEL=3").unwrap().seclevel, Some(3));
    assert!(matches!(
        evaluate("SUITEB128"),
        Err(CipherStringError::SuiteB(_))
    ));
}

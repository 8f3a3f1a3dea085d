//! Certificates as HAProxy reads them: a PEM file holds the chain and its
//! private key (or the key is at the same path with `.key` appended); a
//! directory loads every file in it in name order, but `.key`, `.issuer`,
//! `.ocsp`, `.sctl` and dot files; a CA file (or directory of `.pem`,
//! `.crt`, `.cer` files) holds the CAs that client certificates must chain to.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use rustls::RootCertStore;
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, CertificateRevocationListDer, PrivateKeyDer};

/// A certificate file that cannot be used; the text names the file and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertError {
    /// The file or directory cannot be read.
    #[error("unable to load SSL certificate from '{path}': {error}")]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// The OS error.
        error: String,
    },
    /// No certificate in it.
    #[error("no certificate found in PEM file '{path}'")]
    NoCertificate {
        /// The file.
        path: PathBuf,
    },
    /// No private key in it, nor in `PATH.key`.
    #[error("no private key found in '{path}' nor in '{path}.key'")]
    NoKey {
        /// The file.
        path: PathBuf,
    },
    /// The key is not a kind the gateway can sign with.
    #[error("unsupported private key in '{path}': {error}")]
    BadKey {
        /// The file.
        path: PathBuf,
        /// Why.
        error: String,
    },
    /// The key does not belong to the certificate.
    #[error("inconsistencies between private key and certificate loaded from PEM file '{path}'")]
    KeyMismatch {
        /// The file.
        path: PathBuf,
    },
    /// The certificate cannot be parsed.
    #[error("unable to parse the certificate of '{path}': {error}")]
    BadCertificate {
        /// The file.
        path: PathBuf,
        /// Why.
        error: String,
    },
    /// A CRL file without any CRL (or with something else than PEM CRLs).
    #[error("unable to load any CRL from '{path}'{error}")]
    NoCrl {
        /// The file.
        path: PathBuf,
        /// What went wrong, if anything did.
        error: String,
    },
    /// A CA file without any CA.
    #[error("unable to load any CA certificate from '{path}'{error}")]
    NoCa {
        /// The file.
        path: PathBuf,
        /// What went wrong, if anything did.
        error: String,
    },
}

/// A certificate ready to serve, with what selection and checks need.
#[derive(Debug, Clone)]
pub struct LoadedCert {
    /// Where it came from.
    pub path: PathBuf,
    /// The chain and its signing key.
    pub key: Arc<CertifiedKey>,
    /// The names it serves (CN and DNS subject alternative names),
    /// lowercase; wildcards as `*.domain`.
    pub names: Vec<String>,
    /// `notAfter`.
    pub not_after: SystemTime,
}

impl LoadedCert {
    /// Whether it has expired at `now` (`spoe check` warns, as HAProxy does).
    pub fn expired(&self, now: SystemTime) -> bool {
        self.not_after < now
    }
}

fn read(path: &Path) -> Result<Vec<u8>, CertError> {
    std::fs::read(path).map_err(|e| CertError::Unreadable {
        path: path.to_owned(),
        error: e.to_string(),
    })
}

/// The files `crt PATH` names: `PATH` itself, or the certificate files of a
/// directory in name order.
pub fn expand(path: &Path) -> Result<Vec<PathBuf>, CertError> {
    if !path.is_dir() {
        return Ok(vec![path.to_owned()]);
    }
    let entries = std::fs::read_dir(path).map_err(|e| CertError::Unreadable {
        path: path.to_owned(),
        error: e.to_string(),
    })?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or(".");
            !name.starts_with('.')
                && ![".key", ".issuer", ".ocsp", ".sctl"]
                    .iter()
                    .any(|ext| name.ends_with(ext))
                && !p.is_dir()
        })
        .collect();
    files.sort();
    Ok(files)
}

/// Loads one PEM file: its chain, and its key (from the same file, else
/// from `PATH.key`), checked to belong together.
pub fn load_pem(path: &Path) -> Result<LoadedCert, CertError> {
    let bytes = read(path)?;
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<_, _>>()
        .map_err(|e| CertError::BadCertificate {
            path: path.to_owned(),
            error: e.to_string(),
        })?;
    if chain.is_empty() {
        return Err(CertError::NoCertificate {
            path: path.to_owned(),
        });
    }
    let key = match PrivateKeyDer::from_pem_slice(&bytes) {
        Ok(k) => k,
        Err(_) => {
            let mut key_path = path.as_os_str().to_owned();
            key_path.push(".key");
            let key_path = PathBuf::from(key_path);
            let key_bytes = std::fs::read(&key_path).map_err(|_| CertError::NoKey {
                path: path.to_owned(),
            })?;
            PrivateKeyDer::from_pem_slice(&key_bytes).map_err(|_| CertError::NoKey {
                path: path.to_owned(),
            })?
        }
    };
    let signer =
        rustls::crypto::ring::sign::any_supported_type(&key).map_err(|e| CertError::BadKey {
            path: path.to_owned(),
            error: e.to_string(),
        })?;
    let (names, not_after) = names_and_expiry(path, &chain[0])?;
    let key = CertifiedKey::new(chain, signer);
    key.keys_match().map_err(|_| CertError::KeyMismatch {
        path: path.to_owned(),
    })?;
    Ok(LoadedCert {
        path: path.to_owned(),
        key: Arc::new(key),
        names,
        not_after,
    })
}

/// The names a certificate serves and when it expires.
fn names_and_expiry(
    path: &Path,
    der: &CertificateDer<'_>,
) -> Result<(Vec<String>, SystemTime), CertError> {
    use x509_parser::prelude::*;
    let bad = |error: String| CertError::BadCertificate {
        path: path.to_owned(),
        error,
    };
    let (_, cert) = X509Certificate::from_der(der).map_err(|e| bad(e.to_string()))?;
    let mut names = Vec::new();
    for cn in cert.subject().iter_common_name() {
        if let Ok(cn) = cn.as_str() {
            names.push(cn.to_ascii_lowercase());
        }
    }
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for name in &san.value.general_names {
            if let GeneralName::DNSName(dns) = name {
                let dns = dns.to_ascii_lowercase();
                if !names.contains(&dns) {
                    names.push(dns);
                }
            }
        }
    }
    let secs = cert.validity().not_after.timestamp();
    let not_after =
        SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(u64::try_from(secs).unwrap_or(0));
    Ok((names, not_after))
}

/// The PEM CRLs of `crl-file` (HAProxy's: every `X509 CRL` block of the file).
///
/// # Errors
/// The file cannot be read or holds no CRL.
pub fn load_crls(path: &Path) -> Result<Vec<CertificateRevocationListDer<'static>>, CertError> {
    let bytes = read(path)?;
    let crls = CertificateRevocationListDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| CertError::NoCrl {
            path: path.to_owned(),
            error: format!(": {e}"),
        })?;
    if crls.is_empty() {
        return Err(CertError::NoCrl {
            path: path.to_owned(),
            error: String::new(),
        });
    }
    Ok(crls)
}

/// Loads the CAs of a `ca-file` (a PEM file, or a directory of `.pem`,
/// `.crt` and `.cer` files).
///
/// # Errors
/// Nothing readable, or no CA in it.
pub fn load_ca(path: &Path) -> Result<RootCertStore, CertError> {
    let files = if path.is_dir() {
        let mut files: Vec<PathBuf> = std::fs::read_dir(path)
            .map_err(|e| CertError::Unreadable {
                path: path.to_owned(),
                error: e.to_string(),
            })?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| {
                let name = p.file_name().and_then(|n| n.to_str()).unwrap_or(".");
                !name.starts_with('.') && [".pem", ".crt", ".cer"].iter().any(|e| name.ends_with(e))
            })
            .collect();
        files.sort();
        files
    } else {
        vec![path.to_owned()]
    };
    let mut store = RootCertStore::empty();
    let mut error = String::new();
    for file in files {
        let bytes = read(&file)?;
        for cert in CertificateDer::pem_slice_iter(&bytes) {
            match cert.map(|c| store.add(c)) {
                Ok(Ok(())) => {}
                Ok(Err(e)) => error = format!(": {e}"),
                Err(e) => error = format!(": {e}"),
            }
        }
    }
    if store.is_empty() {
        return Err(CertError::NoCa {
            path: path.to_owned(),
            error,
        });
    }
    Ok(store)
}

//! Test certificates, generated when a test runs (no private key is
//! committed): a CA, server certificates it signs (chain and key in one PEM
//! file, as HAProxy reads them), client certificates, and an untrusted
//! self-signed one, all in a temporary directory that goes with the value.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};

/// A test CA and the files it issued.
pub struct TestPki {
    dir: tempfile::TempDir,
    ca: CertifiedIssuer<'static, KeyPair>,
    serial: u64,
}

impl std::fmt::Debug for TestPki {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestPki")
            .field("dir", &self.dir.path())
            .finish_non_exhaustive()
    }
}

fn params(cn: &str, sans: &[&str]) -> CertificateParams {
    let mut p = CertificateParams::new(sans.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>())
        .expect("certificate names");
    p.distinguished_name.push(DnType::CountryName, "FR");
    p.distinguished_name
        .push(DnType::OrganizationName, "spoe tests");
    p.distinguished_name.push(DnType::CommonName, cn);
    p
}

impl TestPki {
    /// A new CA (`CN=spoe test CA`), written to `ca.pem`.
    pub fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("spoe-pki-")
            .tempdir()
            .expect("temporary directory");
        let mut p = params("spoe test CA", &[]);
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = KeyPair::generate().expect("CA key");
        let ca = CertifiedIssuer::self_signed(p, key).expect("CA certificate");
        std::fs::write(dir.path().join("ca.pem"), ca.pem()).expect("write ca.pem");
        Self { dir, ca, serial: 1 }
    }

    /// The directory holding every file.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// `ca.pem`: the CA certificate.
    pub fn ca(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// `DIR/name`.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The serial number the next certificate issued gets.
    fn next_serial(&self) -> u64 {
        self.serial + 1
    }

    fn issue(&mut self, file: &str, mut p: CertificateParams, self_signed: bool) -> PathBuf {
        self.serial += 1;
        p.serial_number = Some(rcgen::SerialNumber::from(
            self.serial.to_be_bytes().to_vec(),
        ));
        let key = KeyPair::generate().expect("key");
        let cert = if self_signed {
            p.self_signed(&key)
        } else {
            p.signed_by(&key, &self.ca)
        }
        .expect("certificate");
        let path = self.path(file);
        std::fs::write(&path, format!("{}{}", cert.pem(), key.serialize_pem()))
            .expect("write certificate");
        path
    }

    /// A server certificate for `sans` (its CN is the first), signed by the
    /// CA, in `file` (certificate then key).
    pub fn server(&mut self, file: &str, sans: &[&str]) -> PathBuf {
        let mut p = params(sans.first().copied().unwrap_or("server"), sans);
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        self.issue(file, p, false)
    }

    /// As [`server`](Self::server), valid in 2020 only (expired).
    pub fn expired_server(&mut self, file: &str, sans: &[&str]) -> PathBuf {
        let mut p = params(sans.first().copied().unwrap_or("server"), sans);
        p.not_before = rcgen::date_time_ymd(2020, 1, 1);
        p.not_after = rcgen::date_time_ymd(2020, 12, 31);
        self.issue(file, p, false)
    }

    /// A client certificate `CN=cn`, signed by the CA, in `file`.
    pub fn client(&mut self, file: &str, cn: &str) -> PathBuf {
        let mut p = params(cn, &[]);
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        self.issue(file, p, false)
    }

    /// As [`client`](Self::client), and its serial number (to revoke it).
    pub fn revocable_client(&mut self, file: &str, cn: &str) -> (PathBuf, u64) {
        let serial = self.next_serial();
        (self.client(file, cn), serial)
    }

    /// A CRL of the CA in `file` (PEM) revoking the certificates of serial numbers `revoked`,
    /// valid from 2020 to 2100.
    pub fn crl(&self, file: &str, revoked: &[u64]) -> PathBuf {
        let params = rcgen::CertificateRevocationListParams {
            this_update: rcgen::date_time_ymd(2020, 1, 1),
            next_update: rcgen::date_time_ymd(2100, 1, 1),
            crl_number: rcgen::SerialNumber::from(1u64.to_be_bytes().to_vec()),
            issuing_distribution_point: None,
            revoked_certs: revoked
                .iter()
                .map(|n| rcgen::RevokedCertParams {
                    serial_number: rcgen::SerialNumber::from(n.to_be_bytes().to_vec()),
                    revocation_time: rcgen::date_time_ymd(2020, 1, 1),
                    reason_code: Some(rcgen::RevocationReason::KeyCompromise),
                    invalidity_date: None,
                })
                .collect(),
            key_identifier_method: rcgen::KeyIdMethod::Sha256,
        };
        let crl = params.signed_by(&self.ca).expect("CRL");
        let path = self.path(file);
        std::fs::write(&path, crl.pem().expect("CRL PEM")).expect("write CRL");
        path
    }

    /// A self-signed client certificate `CN=cn` (no CA vouches for it).
    pub fn untrusted_client(&mut self, file: &str, cn: &str) -> PathBuf {
        let mut p = params(cn, &[]);
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        self.issue(file, p, true)
    }
}

impl Default for TestPki {
    fn default() -> Self {
        Self::new()
    }
}

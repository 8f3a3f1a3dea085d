//! `option mysql-check`: the login sent and the packets judged
//! (`tcpcheck_mysql_expect_packet()`).

use super::verdict::{Eval, Verdict};
use crate::stats::CheckStatus;

/// The login of `option mysql-check user U [post-41|pre-41]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MysqlLogin {
    /// The user name.
    pub(crate) user: String,
    /// The client authentication packet of MySQL 4.1 and later (`post-41`, the default).
    pub(crate) post41: bool,
}

pub(super) fn le24(buf: &[u8], at: usize) -> Option<usize> {
    let b = buf.get(at..at + 3)?;
    Some(usize::from(b[0]) | usize::from(b[1]) << 8 | usize::from(b[2]) << 16)
}

/// `tcpcheck_mysql_expect_packet()`: a whole packet at `at`, not an error packet (`0xff`:
/// its code and message fail the check).
pub(super) fn mysql_packet(buf: &[u8], at: usize, last_read: bool) -> Eval {
    let truncated = || {
        if last_read {
            Eval::Fail(Verdict::new(CheckStatus::L7Rsp, b"", None))
        } else {
            Eval::Wait
        }
    };
    let Some(len) = le24(buf, at).filter(|_| buf.len() >= at + 4) else {
        return truncated();
    };
    if buf.len() < at + len + 4 {
        return truncated();
    }
    if buf.get(at + 4) == Some(&0xff) {
        let byte = |i: usize| u16::from(buf.get(at + i).copied().unwrap_or(0));
        let code = byte(5) | byte(6) << 8;
        let msg = buf.get(at + 7..).unwrap_or_default();
        return Eval::Fail(Verdict::new(CheckStatus::L7Sts, msg, Some(code)));
    }
    Eval::Pass
}

/// The client authentication packet of `option mysql-check user U` (4.1 or older), then a
/// `COM_QUIT`.
pub(super) fn mysql_login(login: &MysqlLogin) -> Vec<u8> {
    let ulen = login.user.len();
    let len = if login.post41 { ulen + 34 } else { ulen + 7 };
    let mut out = vec![
        (len & 0xff) as u8,
        (len >> 8 & 0xff) as u8,
        (len >> 16 & 0xff) as u8,
        1,
    ];
    if login.post41 {
        out.extend_from_slice(&[0x00, 0x82, 0x00, 0x00, 0x00, 0x80, 0x00, 0x01, 0x21]);
        out.extend_from_slice(&[0; 23]);
    } else {
        out.extend_from_slice(&[0x00, 0x80, 0x00, 0x00, 0x01]);
    }
    out.extend_from_slice(login.user.as_bytes());
    out.extend_from_slice(&[0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01]);
    out
}

#[cfg(test)]
mod tests {
    use super::{MysqlLogin, mysql_login};

    #[test]
    fn the_logins_are_haproxys_bytes() {
        let post41 = mysql_login(&MysqlLogin {
            user: "haproxy".into(),
            post41: true,
        });
        assert_eq!(post41.len(), 4 + 41 + 5);
        assert_eq!(&post41[..4], &[41, 0, 0, 1]);
        let pre41 = mysql_login(&MysqlLogin {
            user: "haproxy".into(),
            post41: false,
        });
        assert_eq!(
            pre41,
            b"\x0e\x00\x00\x01\x00\x80\x00\x00\x01haproxy\x00\x00\x01\x00\x00\x00\x01"
        );
    }
}

//! The DNS messages of a resolution, on hickory-proto: the query HAProxy sends
//! (`resolv_build_query()`: recursion desired, one question, an EDNS OPT record announcing
//! `accepted_payload_size`) and what an answer says (`resolv_validate_dns_response()`).

use std::net::IpAddr;

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, RecordType};

/// The record type asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Qtype {
    A,
    Aaaa,
}

impl Qtype {
    fn record_type(self) -> RecordType {
        match self {
            Self::A => RecordType::A,
            Self::Aaaa => RecordType::AAAA,
        }
    }

    /// The other family's type (the fallback when the preferred one has no answer).
    pub(super) fn other(self) -> Self {
        match self {
            Self::A => Self::Aaaa,
            Self::Aaaa => Self::A,
        }
    }
}

/// What an answer says, as HAProxy classes it (`RSLV_STATUS_*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Reply {
    /// Addresses of the asked type (`RSLV_STATUS_VALID`).
    Valid(Vec<IpAddr>),
    /// NXDOMAIN.
    Nx,
    /// REFUSED.
    Refused,
    /// Another error: no usable record, truncated, wrong question, another code.
    Other,
}

/// The query of `name` for `qtype`, with id `id`; `None` when `name` is no DNS name.
pub(super) fn query(id: u16, name: &str, qtype: Qtype, payload: u16) -> Option<Vec<u8>> {
    let name = Name::from_ascii(name).ok()?;
    let mut m = Message::new(id, MessageType::Query, OpCode::Query);
    m.metadata.recursion_desired = true;
    m.add_query(Query::query(name, qtype.record_type()));
    let mut edns = Edns::new();
    edns.set_max_payload(payload);
    m.set_edns(edns);
    m.to_vec().ok()
}

/// The reply `bytes` give to the query `id` of `name` for `qtype`; `None` for a message that
/// answers another query (an old one: ignored, as HAProxy ignores unknown ids).
pub(super) fn reply(bytes: &[u8], id: u16, name: &str, qtype: Qtype, max: usize) -> Option<Reply> {
    let m = Message::from_vec(bytes).ok()?;
    if m.metadata.id != id || m.metadata.message_type != MessageType::Response {
        return None;
    }
    let asked = |n: &Name| {
        n.to_ascii()
            .trim_end_matches('.')
            .eq_ignore_ascii_case(name)
    };
    Some(match m.metadata.response_code {
        ResponseCode::NXDomain => Reply::Nx,
        ResponseCode::Refused => Reply::Refused,
        ResponseCode::NoError => {
            let right_question = m.queries.len() == 1
                && asked(m.queries[0].name())
                && m.queries[0].query_type() == qtype.record_type();
            if !right_question || m.metadata.truncation || m.answers.is_empty() {
                return Some(Reply::Other);
            }
            let ips: Vec<IpAddr> = m
                .answers
                .iter()
                .filter_map(|r| match (&r.data, qtype) {
                    (RData::A(a), Qtype::A) => Some(IpAddr::V4(a.0)),
                    (RData::AAAA(a), Qtype::Aaaa) => Some(IpAddr::V6(a.0)),
                    _ => None,
                })
                .take(max)
                .collect();
            if ips.is_empty() {
                Reply::Other
            } else {
                Reply::Valid(ips)
            }
        }
        _ => Reply::Other,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::rr::Record;
    use hickory_proto::rr::rdata::A;

    #[test]
    fn an_answer_is_read_as_haproxy_classes_it() {
        let q = query(7, "app.test", Qtype::A, 1232).unwrap();
        let asked = Message::from_vec(&q).unwrap();
        assert!(asked.metadata.recursion_desired);
        assert_eq!(asked.max_payload(), 1232);
        let mut r = Message::response(7, OpCode::Query);
        r.add_query(asked.queries[0].clone());
        let name = Name::from_ascii("app.test.").unwrap();
        r.add_answer(Record::from_rdata(name, 5, RData::A(A::new(10, 0, 0, 1))));
        let bytes = r.to_vec().unwrap();
        assert_eq!(
            reply(&bytes, 7, "app.test", Qtype::A, 10),
            Some(Reply::Valid(vec!["10.0.0.1".parse().unwrap()]))
        );
        assert_eq!(reply(&bytes, 8, "app.test", Qtype::A, 10), None);
        assert_eq!(
            reply(&bytes, 7, "app.test", Qtype::Aaaa, 10),
            Some(Reply::Other)
        );
        let nx = Message::error_msg(7, OpCode::Query, ResponseCode::NXDomain)
            .to_vec()
            .unwrap();
        assert_eq!(reply(&nx, 7, "app.test", Qtype::A, 10), Some(Reply::Nx));
    }
}

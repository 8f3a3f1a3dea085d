pub(crate) mod agent;
pub(crate) mod bench;
pub(crate) mod check;
pub(crate) mod conformance;
pub(crate) mod decode;
pub(crate) mod gateway;
pub(crate) mod notify;

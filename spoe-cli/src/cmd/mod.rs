pub(crate) mod agent;
pub(crate) mod bench;
pub(crate) mod decode;
pub(crate) mod notify;

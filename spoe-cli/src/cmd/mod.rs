pub(crate) mod agent;
pub(crate) mod notify;

pub(crate) mod agent;

//! Fetches of the host's own data: `unique-id` and `var()`.

use spoe::expr::{Sample, VarRef};

use crate::exchange::Exchange;

/// `unique-id`: the host's request id, formatted when read.
pub(super) fn unique_id(x: &Exchange<'_>) -> Option<Sample> {
    x.unique_id.map(|id| Sample::str(id.to_string()))
}

/// `var(name)`: the variable, if set (its default is applied by `spoe`).
pub(super) fn var(x: &Exchange<'_>, var: &VarRef) -> Option<Sample> {
    x.vars?.sample_of_ref(var)
}

//! The SPOE engine. Not implemented yet: this crate is a placeholder in the
//! workspace so that the layout is fixed; it exposes nothing.

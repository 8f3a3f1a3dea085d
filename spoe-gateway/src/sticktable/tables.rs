//! The tables of one configuration, by name.

use std::sync::Arc;

use super::decl::StickTableDecl;
use super::table::StickTable;

/// A generation's stick tables (process-wide: every worker thread shares them).
#[derive(Debug, Default)]
pub(crate) struct Tables {
    /// In the order of the configuration.
    tables: Vec<Arc<StickTable>>,
}

impl Tables {
    /// The tables `decls` declare, empty. A table of `previous` that a `peers` section keeps
    /// (see [`StickTableDecl::carries_to`]) and that is declared alike is carried over with
    /// its entries, as HAProxy's local peer hands them to the new process on reload.
    pub(crate) fn build(decls: &[StickTableDecl], previous: Option<&Self>) -> Self {
        let tables = decls
            .iter()
            .map(|d| {
                let kept = previous
                    .and_then(|p| p.get(&d.name))
                    .filter(|old| old.decl.carries_to(d) && same_shape(&old.decl, d));
                kept.cloned()
                    .unwrap_or_else(|| Arc::new(StickTable::new(d.clone())))
            })
            .collect();
        Self { tables }
    }

    /// The table called `name`.
    pub(crate) fn get(&self, name: &str) -> Option<&Arc<StickTable>> {
        self.tables.iter().find(|t| t.name() == name)
    }

    /// Every table, the last declared first (HAProxy's `stktables_list`, which `show
    /// table` walks).
    pub(crate) fn iter(&self) -> impl Iterator<Item = &Arc<StickTable>> {
        self.tables.iter().rev()
    }

    /// Whether there is none.
    pub(crate) fn is_empty(&self) -> bool {
        self.tables.is_empty()
    }

    /// Removes the expired entries of every table (the periodic task's work).
    pub(crate) fn purge_expired(&self) {
        for t in &self.tables {
            t.purge_expired();
        }
    }
}

/// Whether two declarations store the same things under the same rules.
fn same_shape(a: &StickTableDecl, b: &StickTableDecl) -> bool {
    a.key == b.key
        && a.size == b.size
        && a.expire == b.expire
        && a.nopurge == b.nopurge
        && a.store == b.store
}

//! `setenv`, `presetenv`, `unsetenv` and `resetenv` (`cfg_parse_global()` in
//! `src/cfgparse-global.c`): HAProxy changes its own environment as it reads each of these
//! lines, so `"${VAR}"` in the lines after them, the `spoe.conf` files and `env()` at run time
//! see the change. The gateway keeps the changes beside the environment it was given (it never
//! writes its own: other threads read it): the reader asks [`Environ::get`] while it reads, and
//! the result of the whole file is [`Environ::effective`], which the rest of the read, the
//! `spoe.conf` files and `env()` use.

use std::cell::RefCell;
use std::collections::BTreeMap;

use spoe::config::reader::Line;

/// The environment a read starts from, and what its lines changed.
#[derive(Debug)]
pub(super) struct Environ<'e> {
    /// The given environment (`None`: the process's).
    base: Option<&'e BTreeMap<String, String>>,
    changes: RefCell<Changes>,
}

#[derive(Debug, Default)]
struct Changes {
    /// `Some`: set; `None`: unset.
    vars: BTreeMap<String, Option<String>>,
    /// After a `resetenv`: the base's variables are gone (those it kept are in `vars`).
    reset: bool,
}

impl<'e> Environ<'e> {
    pub(super) fn new(base: Option<&'e BTreeMap<String, String>>) -> Self {
        Self {
            base,
            changes: RefCell::default(),
        }
    }

    fn base_get(&self, name: &str) -> Option<String> {
        match self.base {
            Some(map) => map.get(name).cloned(),
            None => std::env::var(name).ok(),
        }
    }

    /// Variable `name` as the lines read so far left it.
    pub(super) fn get(&self, name: &str) -> Option<String> {
        let changes = self.changes.borrow();
        match changes.vars.get(name) {
            Some(v) => v.clone(),
            None if changes.reset => None,
            None => self.base_get(name),
        }
    }

    /// Applies a `global` line, if it is one of the four and well formed (its errors are
    /// reported when the line is lowered: `Lowerer::environment_line`).
    pub(super) fn apply(&self, line: &Line) {
        let args: Vec<&str> = line.words[1..].iter().map(|w| w.as_str()).collect();
        match (line.keyword(), args.as_slice()) {
            ("setenv", [name, value, ..]) if args.len() <= 3 && valid_name(name) => {
                self.set(name, Some((*value).to_owned()));
            }
            ("presetenv", [name, value, ..])
                if args.len() <= 3 && valid_name(name) && self.get(name).is_none() =>
            {
                self.set(name, Some((*value).to_owned()));
            }
            ("unsetenv", names) if !names.is_empty() => {
                // HAProxy stops at the first name unsetenv() refuses.
                for name in names.iter().take_while(|n| valid_name(n)) {
                    self.set(name, None);
                }
            }
            ("resetenv", keep) => {
                let kept: Vec<(String, Option<String>)> = keep
                    .iter()
                    .map(|k| ((*k).to_owned(), self.get(k)))
                    .collect();
                let mut changes = self.changes.borrow_mut();
                changes.vars.clear();
                changes.reset = true;
                for (k, v) in kept {
                    if v.is_some() {
                        changes.vars.insert(k, v);
                    }
                }
            }
            _ => {}
        }
    }

    fn set(&self, name: &str, value: Option<String>) {
        self.changes
            .borrow_mut()
            .vars
            .insert(name.to_owned(), value);
    }

    /// The environment once the whole file is read: `None` when no line changed it (the given
    /// one, or the process's, is read as is), else every variable.
    pub(super) fn effective(&self) -> Option<BTreeMap<String, String>> {
        let changes = self.changes.borrow();
        if changes.vars.is_empty() && !changes.reset {
            return self.base.cloned();
        }
        let mut all: BTreeMap<String, String> = if changes.reset {
            BTreeMap::new()
        } else {
            match self.base {
                Some(map) => map.clone(),
                None => std::env::vars_os()
                    .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
                    .collect(),
            }
        };
        for (k, v) in &changes.vars {
            match v {
                Some(v) => all.insert(k.clone(), v.clone()),
                None => all.remove(k),
            };
        }
        Some(all)
    }
}

/// What `setenv()`/`unsetenv()` accept: a non-empty name without `=`.
pub(super) fn valid_name(name: &str) -> bool {
    !name.is_empty() && !name.contains('=')
}

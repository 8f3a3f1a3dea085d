//! A server's administrative state and user weight as the runtime API and the stats page set
//! them (what they do to the server and its backend is `admin.rs`).

use std::sync::atomic::{AtomicU8, AtomicU32, Ordering};

/// A server's administrative state (`set server ... state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Admin {
    /// Takes traffic when up (`ready`).
    Ready,
    /// Takes no new traffic from load balancing (`drain`).
    Drain,
    /// Takes no traffic (`maint`, `disable server`).
    Maint,
}

impl Admin {
    /// HAProxy's `srv_admin_state` bits in `show servers state`: `SRV_ADMF_FMAINT` (1),
    /// `SRV_ADMF_FDRAIN` (8).
    pub(crate) const fn bits(self) -> u8 {
        match self {
            Self::Ready => 0,
            Self::Drain => 8,
            Self::Maint => 1,
        }
    }
}

/// The run-time part of a server's state.
#[derive(Debug)]
pub(crate) struct ServerAdmin {
    state: AtomicU8,
    /// The user weight (`uweight`): the configured one until changed.
    weight: AtomicU32,
}

impl ServerAdmin {
    pub(crate) fn new(weight: u32) -> Self {
        Self {
            state: AtomicU8::new(Admin::Ready.bits()),
            weight: AtomicU32::new(weight),
        }
    }

    /// The state now.
    pub(crate) fn state(&self) -> Admin {
        match self.state.load(Ordering::Relaxed) {
            1 => Admin::Maint,
            8 => Admin::Drain,
            _ => Admin::Ready,
        }
    }

    /// The weight now.
    pub(crate) fn weight(&self) -> u32 {
        self.weight.load(Ordering::Relaxed)
    }

    pub(super) fn set_state(&self, state: Admin) {
        self.state.store(state.bits(), Ordering::Relaxed);
    }

    pub(super) fn set_weight(&self, weight: u32) {
        self.weight.store(weight, Ordering::Relaxed);
    }
}

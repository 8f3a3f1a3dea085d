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

/// HAProxy's `SRV_ADMF_RMAINT`: in maintenance for want of an address (its name does not
/// resolve, or `init-addr none`), whatever the runtime API sets.
const RMAINT: u8 = 0x20;

/// The run-time part of a server's state.
#[derive(Debug)]
pub(crate) struct ServerAdmin {
    /// `Admin::bits()`, with [`RMAINT`].
    state: AtomicU8,
    /// The user weight (`uweight`): the configured one until changed.
    weight: AtomicU32,
}

impl ServerAdmin {
    /// Ready with `weight`; in maintenance for want of an address when `no_address`.
    pub(crate) fn new(weight: u32, no_address: bool) -> Self {
        Self {
            state: AtomicU8::new(if no_address { RMAINT } else { 0 }),
            weight: AtomicU32::new(weight),
        }
    }

    /// The state now (maintenance for want of an address is maintenance).
    pub(crate) fn state(&self) -> Admin {
        let bits = self.state.load(Ordering::Relaxed);
        if bits & (RMAINT | Admin::Maint.bits()) != 0 {
            Admin::Maint
        } else if bits & Admin::Drain.bits() != 0 {
            Admin::Drain
        } else {
            Admin::Ready
        }
    }

    /// `srv_admin_state` in `show servers state`: the bits set.
    pub(crate) fn bits(&self) -> u8 {
        self.state.load(Ordering::Relaxed)
    }

    /// Whether it is in maintenance for want of an address.
    pub(crate) fn resolution_maint(&self) -> bool {
        self.state.load(Ordering::Relaxed) & RMAINT != 0
    }

    /// Puts it into maintenance for want of an address, or takes it out.
    pub(super) fn set_resolution_maint(&self, on: bool) {
        if on {
            self.state.fetch_or(RMAINT, Ordering::Relaxed);
        } else {
            self.state.fetch_and(!RMAINT, Ordering::Relaxed);
        }
        crate::generation::chosen::servers_changed();
    }

    /// The weight now.
    pub(crate) fn weight(&self) -> u32 {
        self.weight.load(Ordering::Relaxed)
    }

    /// Sets the state the runtime API sets (maintenance for want of an address stays).
    pub(super) fn set_state(&self, state: Admin) {
        let _ = self
            .state
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |b| {
                Some((b & RMAINT) | state.bits())
            });
        crate::generation::chosen::servers_changed();
    }

    pub(super) fn set_weight(&self, weight: u32) {
        self.weight.store(weight, Ordering::Relaxed);
        crate::generation::chosen::servers_changed();
    }
}

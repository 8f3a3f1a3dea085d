//! The engine's runtime: the handle hosts call ([`handle`]), the dispatcher
//! that owns the queue and the pool ([`dispatch`]), one task per agent
//! connection ([`agent_conn`]), the ready connections callers hand messages
//! to ([`ready`]), health checks ([`health`]) and how sockets are opened
//! ([`connector`]).
//!
//! Leaves hold what they all share, importing none of them: [`settings`]
//! (configuration and counters), [`job`] (the messages between the parts)
//! and [`reach`] (the servers' states, shared by the engines of one agent
//! so that each change is logged once). One message's life, in order: [`handle`] encodes it
//! into a [`job::Job`] with its deadline and either hands it to a ready
//! connection with a free slot ([`ready::Ready::try_hand`]) or sends it to
//! the dispatcher's bounded queue; [`dispatch`] queues it,
//! opens connections and gives it to one with a free slot as
//! [`job::ConnMsg::Job`]; [`agent_conn`] writes the NOTIFY, matches the ACK
//! and answers the caller's `reply`, then frees the slot (waking the
//! dispatcher through [`ready::Ready::slot_freed`] only when it waits for
//! one). The free-slot counters and their ordering rules are
//! described in [`ready`].

pub(crate) mod agent_conn;
pub mod connector;
pub(crate) mod dispatch;
pub(crate) mod handle;
pub(crate) mod health;
pub(crate) mod job;
pub(crate) mod outcome;
pub(crate) mod rate;
pub(crate) mod reach;
pub(crate) mod ready;
pub(crate) mod settings;

//! The waiting lines of one backend whose servers have a `maxconn`, as pure state (HAProxy
//! 2.6's `src/queue.c`): who is served, who waits in a server's line or in the backend's, and
//! who gets a slot when one frees. No clock and no I/O: the caller says how loaded the backend
//! is, which servers may take requests from the backend's line, and wakes the waiters this
//! state hands back (`W`: how to wake one).

use std::collections::VecDeque;

/// A server's limits: `maxconn` (0: none), `minconn` (equal to `maxconn` without a dynamic
/// limit), `maxqueue` (0: an unbounded line).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Limits {
    pub(crate) maxconn: usize,
    pub(crate) minconn: usize,
    pub(crate) maxqueue: usize,
}

impl Limits {
    /// The number of requests the server takes at once when its backend has `beconn`
    /// streams and reaches its full load at `fullconn` (HAProxy's `srv_dynamic_maxconn()`,
    /// without `slowstart`, which the gateway refuses).
    pub(crate) fn dynamic(&self, beconn: usize, fullconn: usize) -> usize {
        if beconn >= fullconn || self.minconn == self.maxconn {
            self.maxconn
        } else {
            self.minconn
                .max(beconn.saturating_mul(self.maxconn) / fullconn.max(1))
        }
    }
}

/// A ticket: names a waiter, to take it out of its line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Ticket(u64);

/// Where a request waited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Place {
    /// In server `0`'s line (it was assigned to that server: persistence, a hash, a retry).
    Server(usize),
    /// In the backend's line (every server it could go to was full).
    Backend,
}

/// What [`State::admit`] decided.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Admit {
    /// The server takes the request now (it counts as served until released).
    Serve(usize),
    /// The request waits in a line, with this ticket.
    Queued(Ticket, Place),
    /// The server's line is at its `maxqueue`: the request is not queued.
    Full,
}

/// A waiter that leaves its line: where it was and HAProxy's position for the logs (`%sq`,
/// `%bq`): 1 plus the requests that left the same line while it waited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Left {
    pub(crate) place: Place,
    pub(crate) position: usize,
}

/// A waiter that got a slot of `server` (it counts as served from now on).
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Grant<W> {
    pub(crate) wake: W,
    pub(crate) server: usize,
    pub(crate) left: Left,
}

#[derive(Debug)]
struct Waiter<W> {
    ticket: Ticket,
    /// Arrival order, shared by every line of the backend: the oldest waiter goes first.
    order: u64,
    /// The line's count of departures when it arrived.
    arrived_at: u64,
    wake: W,
}

#[derive(Debug)]
struct Line<W> {
    waiting: VecDeque<Waiter<W>>,
    /// Departures from this line so far (HAProxy's `queue->idx`).
    departed: u64,
}

impl<W> Default for Line<W> {
    fn default() -> Self {
        Self {
            waiting: VecDeque::new(),
            departed: 0,
        }
    }
}

impl<W> Line<W> {
    fn position(&self, w: &Waiter<W>) -> usize {
        usize::try_from(self.departed - w.arrived_at + 1).unwrap_or(usize::MAX)
    }

    fn oldest(&self) -> Option<u64> {
        self.waiting.front().map(|w| w.order)
    }

    /// The first waiter, leaving for a slot.
    fn pop(&mut self) -> Option<(W, usize)> {
        let w = self.waiting.pop_front()?;
        let position = self.position(&w);
        self.departed += 1;
        Some((w.wake, position))
    }

    /// Waiter `ticket`, leaving without a slot (its timeout, or its client gone).
    fn remove(&mut self, ticket: Ticket) -> Option<(W, usize)> {
        let at = self.waiting.iter().position(|w| w.ticket == ticket)?;
        let w = self.waiting.remove(at)?;
        let position = self.position(&w);
        Some((w.wake, position))
    }
}

#[derive(Debug)]
struct Server<W> {
    limits: Limits,
    served: usize,
    line: Line<W>,
}

/// The lines of a backend: one per server, and the backend's own.
#[derive(Debug)]
pub(crate) struct State<W> {
    fullconn: usize,
    servers: Vec<Server<W>>,
    backend: Line<W>,
    next: u64,
}

impl<W> State<W> {
    /// A backend whose servers have `limits` (in order) and that reaches full load at
    /// `fullconn` streams.
    pub(crate) fn new(limits: impl IntoIterator<Item = Limits>, fullconn: usize) -> Self {
        Self {
            fullconn: fullconn.max(1),
            servers: limits
                .into_iter()
                .map(|limits| Server {
                    limits,
                    served: 0,
                    line: Line::default(),
                })
                .collect(),
            backend: Line::default(),
            next: 0,
        }
    }

    /// Whether server `i` takes no new request now: it has a `maxconn`, and requests wait
    /// for it or it serves its (dynamic) limit. A balancing algorithm passes over it.
    pub(crate) fn is_full(&self, i: usize, beconn: usize) -> bool {
        let s = &self.servers[i];
        s.limits.maxconn > 0
            && (!s.line.waiting.is_empty() || s.served >= s.limits.dynamic(beconn, self.fullconn))
    }

    /// Whether `leastconn` passes over server `i`: its served and waiting requests reach its
    /// limit plus its `maxqueue` (HAProxy's `fwlc_get_next_server()`).
    pub(crate) fn lc_full(&self, i: usize, beconn: usize) -> bool {
        let s = &self.servers[i];
        s.limits.maxconn > 0
            && s.served + s.line.waiting.len()
                >= s.limits.dynamic(beconn, self.fullconn) + s.limits.maxqueue
    }

    /// Requests waiting at `place`.
    #[cfg(test)]
    pub(crate) fn waiting(&self, place: Place) -> usize {
        match place {
            Place::Server(i) => self.servers[i].line.waiting.len(),
            Place::Backend => self.backend.waiting.len(),
        }
    }

    /// Requests server `i` serves now.
    #[cfg(test)]
    pub(crate) fn served(&self, i: usize) -> usize {
        self.servers[i].served
    }

    /// A request for server `server` (`None`: every server it could go to was full, it
    /// waits in the backend's line), `wake` to wake it if it waits.
    pub(crate) fn admit(&mut self, server: Option<usize>, beconn: usize, wake: W) -> Admit {
        let ticket = Ticket(self.next);
        let order = self.next;
        self.next += 1;
        let (line, place) = match server {
            Some(i) if !self.is_full(i, beconn) => {
                self.servers[i].served += 1;
                return Admit::Serve(i);
            }
            Some(i) => {
                let s = &mut self.servers[i];
                if s.limits.maxqueue > 0 && s.line.waiting.len() >= s.limits.maxqueue {
                    return Admit::Full;
                }
                (&mut s.line, Place::Server(i))
            }
            None => (&mut self.backend, Place::Backend),
        };
        line.waiting.push_back(Waiter {
            ticket,
            order,
            arrived_at: line.departed,
            wake,
        });
        Admit::Queued(ticket, place)
    }

    /// Waiter `ticket` leaves its line without a slot; `None` if it is in none (it was
    /// granted one already: the caller then releases that slot).
    pub(crate) fn leave(&mut self, ticket: Ticket, place: Place) -> Option<Left> {
        let line = match place {
            Place::Server(i) => &mut self.servers[i].line,
            Place::Backend => &mut self.backend,
        };
        line.remove(ticket)
            .map(|(_, position)| Left { place, position })
    }

    /// Server `i` ends a request; the slots it has free then go to the oldest waiters of its
    /// line and (when `takes_from_backend`: it is up, and active or the backup in use) of the
    /// backend's (HAProxy's `process_srv_queue()`).
    pub(crate) fn release(
        &mut self,
        i: usize,
        takes_from_backend: bool,
        beconn: usize,
    ) -> Vec<Grant<W>> {
        let s = &mut self.servers[i];
        s.served = s.served.saturating_sub(1);
        self.dispatch(i, takes_from_backend, beconn)
    }

    /// Hands server `i`'s free slots to waiters (see [`State::release`]).
    pub(crate) fn dispatch(
        &mut self,
        i: usize,
        takes_from_backend: bool,
        beconn: usize,
    ) -> Vec<Grant<W>> {
        let mut grants = Vec::new();
        loop {
            let fullconn = self.fullconn;
            let s = &mut self.servers[i];
            if s.limits.maxconn > 0 && s.served >= s.limits.dynamic(beconn, fullconn) {
                break;
            }
            let own = s.line.oldest();
            let shared = self.backend.oldest().filter(|_| takes_from_backend);
            let (popped, place) = match (own, shared) {
                (Some(a), Some(b)) if b < a => (self.backend.pop(), Place::Backend),
                (Some(_), _) => (s.line.pop(), Place::Server(i)),
                (None, Some(_)) => (self.backend.pop(), Place::Backend),
                (None, None) => break,
            };
            let Some((wake, position)) = popped else {
                break;
            };
            self.servers[i].served += 1;
            grants.push(Grant {
                wake,
                server: i,
                left: Left { place, position },
            });
        }
        grants
    }
}

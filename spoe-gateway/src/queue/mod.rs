//! Backend queues (HAProxy 2.6's `src/queue.c`): a backend with a server under `maxconn`
//! keeps the requests beyond it waiting, in that server's line when the request was assigned
//! to it (persistence, a hash, a retry), in the backend's line when every server a balancing
//! algorithm could pick was full. A freed slot goes to the oldest waiter of both lines. A
//! server's line is bounded by its `maxqueue` (beyond it: `SQ` and a 503); the backend's line
//! by the connections the frontends admit (each waiter is a line entry and a wake-up channel).
//!
//! The state is pure ([`line`]); this shell owns the lock, wakes waiters, and counts them in
//! the statistics (`qcur`/`qmax`). A waiter that is dropped (its `timeout queue` expired, its
//! client went away) leaves its line at once, and hands on a slot granted meanwhile.

mod line;
#[cfg(test)]
mod tests;

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::oneshot;

use line::{Admit, State, Ticket};
pub(crate) use line::{Left, Limits, Place};

use crate::stats::Counters;

/// What wakes a waiter: the server whose slot it got, and where it waited.
type Wake = oneshot::Sender<(usize, Left)>;

/// Whether server `i` takes requests from the backend's line now.
pub(crate) type TakesFromBackend = Box<dyn Fn(usize) -> bool + Send + Sync>;

/// The queues of one backend (present when one of its servers has a `maxconn`).
pub(crate) struct Queues {
    state: Mutex<State<Wake>>,
    /// Each server's statistics, in order.
    servers: Vec<Arc<Counters>>,
    backend: Arc<Counters>,
    takes_from_backend: TakesFromBackend,
}

impl std::fmt::Debug for Queues {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Queues").finish_non_exhaustive()
    }
}

/// Why a request got no slot.
#[derive(Debug)]
pub(crate) enum Refused {
    /// It waited `timeout queue` (`sQ`), at this place and position.
    Timeout(Left),
    /// Its server's line was at `maxqueue` (`SQ`).
    Full,
}

/// A slot of a server, given back when dropped.
#[derive(Debug)]
pub(crate) struct Slot {
    queues: Arc<Queues>,
    /// The server it is a slot of.
    pub(crate) server: usize,
    /// Where the request waited for it (`None`: it did not wait).
    pub(crate) waited: Option<Left>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.queues.release(self.server);
    }
}

impl Queues {
    /// The queues of a backend whose servers have `limits` and `counters` (in order) and
    /// which is full at `fullconn` streams (`None` when no server has a `maxconn`: nothing
    /// ever waits).
    pub(crate) fn of(
        servers: impl IntoIterator<Item = (Limits, Arc<Counters>)>,
        fullconn: usize,
        backend: Arc<Counters>,
        takes_from_backend: TakesFromBackend,
    ) -> Option<Arc<Self>> {
        let (limits, counters): (Vec<Limits>, Vec<Arc<Counters>>) = servers.into_iter().unzip();
        if limits.iter().all(|l| l.maxconn == 0) {
            return None;
        }
        Some(Arc::new(Self {
            state: Mutex::new(State::new(limits, fullconn)),
            servers: counters,
            backend,
            takes_from_backend,
        }))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State<Wake>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The backend's streams now (HAProxy's `beconn`, which the dynamic limits follow).
    fn beconn(&self) -> usize {
        usize::try_from(self.backend.sessions.cur()).unwrap_or(usize::MAX)
    }

    /// Whether server `i` is passed over by `roundrobin` (HAProxy's `fwrr`: requests wait
    /// for it, or it serves its limit) or, with `leastconn`, when its served and waiting
    /// requests reach its limit plus its `maxqueue` (HAProxy's `fwlc`).
    pub(crate) fn passes_over(&self, i: usize, leastconn: bool) -> bool {
        let state = self.lock();
        if leastconn {
            state.lc_full(i, self.beconn())
        } else {
            state.is_full(i, self.beconn())
        }
    }

    /// A slot of server `server` (`None`: of whichever frees first), waited for at most
    /// `wait`; `queued` is told when the request starts to wait.
    pub(crate) async fn slot(
        self: &Arc<Self>,
        server: Option<usize>,
        wait: Duration,
        queued: impl FnOnce(Place),
    ) -> Result<Slot, Refused> {
        let (tx, rx) = oneshot::channel();
        let admitted = self.lock().admit(server, self.beconn(), tx);
        let (ticket, place) = match admitted {
            Admit::Serve(i) => {
                return Ok(Slot {
                    queues: self.clone(),
                    server: i,
                    waited: None,
                });
            }
            Admit::Full => return Err(Refused::Full),
            Admit::Queued(ticket, place) => (ticket, place),
        };
        queued(place);
        let mut waiter = Waiter {
            queues: self.clone(),
            ticket,
            place,
            rx,
            done: false,
        };
        waiter.counters().queue.inc();
        let got = tokio::time::timeout(wait, &mut waiter.rx).await;
        let (server, left) = match got {
            Ok(Ok(granted)) => granted,
            // Timed out (a grant that came meanwhile is taken: it is this request's).
            _ => match waiter.leave() {
                Ok(left) => return Err(Refused::Timeout(left)),
                Err(granted) => granted,
            },
        };
        waiter.done = true;
        waiter.counters().queue.dec();
        Ok(Slot {
            queues: self.clone(),
            server,
            waited: Some(left),
        })
    }

    /// Server `i` ends a request: its free slots go to waiters.
    fn release(&self, i: usize) {
        let takes = (self.takes_from_backend)(i);
        let mut state = self.lock();
        let mut grants = std::collections::VecDeque::from(state.release(i, takes, self.beconn()));
        // A waiter gone without leaving its line cannot be (it leaves under this lock
        // before its channel drops); should one be, its slot goes to the next.
        while let Some(g) = grants.pop_front() {
            if g.wake.send((g.server, g.left)).is_err() {
                grants.extend(state.release(g.server, takes, self.beconn()));
            }
        }
    }
}

/// A request waiting in a line; dropped before it got a slot, it leaves the line.
struct Waiter {
    queues: Arc<Queues>,
    ticket: Ticket,
    place: Place,
    rx: oneshot::Receiver<(usize, Left)>,
    done: bool,
}

impl Waiter {
    /// The counters of its line (`qcur`/`qmax` of its server or backend).
    fn counters(&self) -> &Counters {
        match self.place {
            Place::Server(i) => &self.queues.servers[i],
            Place::Backend => &self.queues.backend,
        }
    }

    /// Leaves the line (`Ok`: where it was), or takes the slot granted meanwhile (`Err`).
    fn leave(&mut self) -> Result<Left, (usize, Left)> {
        let left = self.queues.lock().leave(self.ticket, self.place);
        match left {
            Some(left) => {
                self.done = true;
                self.counters().queue.dec();
                Ok(left)
            }
            None => self.rx.try_recv().map_err(|_| ()).map_or_else(
                |()| {
                    // Neither in the line nor granted: cannot happen; count it gone.
                    self.done = true;
                    self.counters().queue.dec();
                    Ok(Left {
                        place: self.place,
                        position: 0,
                    })
                },
                Err,
            ),
        }
    }
}

impl Drop for Waiter {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        // Its client went away while it waited: out of the line now, and a slot granted
        // meanwhile goes back.
        if let Err((server, _)) = self.leave() {
            self.done = true;
            self.counters().queue.dec();
            self.queues.release(server);
        }
    }
}

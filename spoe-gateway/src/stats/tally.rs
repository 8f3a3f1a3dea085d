//! One request's part in the statistics, counted where HAProxy counts it:
//! the request at its start, its backend and server when they are assigned,
//! denials and interceptions by rules, and at its end (when its access line
//! is written) the response's class, aborts and times.

use std::sync::Arc;
use std::time::Duration;

use super::counters::Counters;

/// The counters a request touches. Its end is recorded once, by
/// [`Tally::end`]; a tally dropped without an end (not reached) releases
/// the sessions it holds.
#[derive(Debug)]
pub(crate) struct Tally {
    fe: Arc<Counters>,
    be: Option<Arc<Counters>>,
    srv: Option<Arc<Counters>>,
    /// The response came from the server (not from the gateway on its
    /// behalf): the server's response counters take it.
    from_server: bool,
    ended: bool,
}

/// How a request ended, for its tally.
#[derive(Debug, Clone, Copy)]
pub(crate) struct End<'a> {
    /// The status sent (`None`: nothing was).
    pub(crate) status: Option<u16>,
    /// HAProxy's termination state (`--`, `CD`, `SH`...).
    pub(crate) termination: &'a str,
    /// From the request's start to its end.
    pub(crate) total: Duration,
}

impl Tally {
    /// A request starts on frontend `fe` (`req_tot` and its rate).
    pub(crate) fn new(fe: Arc<Counters>) -> Self {
        fe.cum_req.inc();
        fe.req_rate.add();
        Self {
            fe,
            be: None,
            srv: None,
            from_server: false,
            ended: false,
        }
    }

    /// The backend is assigned: a session of it starts.
    pub(crate) fn backend(&mut self, be: Arc<Counters>) {
        be.session_starts();
        self.be = Some(be);
    }

    /// Load balancing chose `srv`: a session of it starts.
    pub(crate) fn server(&mut self, srv: Arc<Counters>) {
        srv.session_starts();
        srv.cum_lbconn.inc();
        if let Some(be) = &self.be {
            be.cum_lbconn.inc();
        }
        self.srv = Some(srv);
    }

    /// A connection to the server failed and the request goes to `srv` instead
    /// (`option redispatch`): its session moves there.
    pub(crate) fn redispatch(&mut self, srv: Arc<Counters>) {
        if let Some(old) = self.srv.take() {
            old.session_ends();
        }
        self.server(srv);
    }

    /// Each object the request is on: the frontend, the backend, the server.
    fn all(&self) -> impl Iterator<Item = &Counters> {
        std::iter::once(&*self.fe)
            .chain(self.be.as_deref())
            .chain(self.srv.as_deref())
    }

    /// The backend and the server.
    fn upstream(&self) -> impl Iterator<Item = &Counters> {
        self.be.as_deref().into_iter().chain(self.srv.as_deref())
    }

    /// The request itself was invalid (bad head, timed out, broken body).
    pub(crate) fn invalid(&self) {
        self.fe.failed_req.inc();
    }

    /// No connection to a server: none was up, the queue timed out, or the
    /// connect failed.
    pub(crate) fn connection_failed(&self) {
        for c in self.upstream() {
            c.failed_conns.inc();
        }
    }

    /// The server's answer failed: invalid, closed or timed out before its
    /// head.
    pub(crate) fn response_failed(&self) {
        for c in self.upstream() {
            c.failed_resp.inc();
        }
    }

    /// The server's response head came: it waited `queue` for a slot on
    /// its server, then `response` from the send (the connect is not
    /// measured apart: its time is 0 and it is in the response's). The
    /// response is the server's: its response counters take it.
    pub(crate) fn answered(&mut self, queue: Duration, response: Duration) {
        self.from_server = true;
        for c in self.upstream() {
            c.forwards.inc();
            c.q_time.add(queue);
            c.c_time.add(Duration::ZERO);
            c.d_time.add(response);
        }
        if let Some(srv) = &self.srv {
            srv.cum_req.inc();
        }
    }

    /// The request ended: its response's class, aborts, total time; its
    /// sessions on the backend and the server end.
    pub(crate) fn end(&mut self, end: End<'_>) {
        if std::mem::replace(&mut self.ended, true) {
            return;
        }
        self.fe.response(end.status);
        if let Some(be) = &self.be {
            be.response(end.status);
            be.cum_req.inc();
        }
        if let Some(srv) = self.srv.as_deref().filter(|_| self.from_server) {
            srv.response(end.status);
        }
        match end.termination.as_bytes() {
            [b'C', b'Q' | b'H' | b'D'] => {
                for c in self.all() {
                    c.cli_aborts.inc();
                }
            }
            [b'S', b'D'] => {
                for c in self.all() {
                    c.srv_aborts.inc();
                }
            }
            _ => {}
        }
        if self.from_server {
            for c in self.upstream() {
                c.t_time.add(end.total);
            }
        }
        self.release();
    }

    fn release(&mut self) {
        for c in self.upstream() {
            c.session_ends();
        }
        self.be = None;
        self.srv = None;
    }
}

impl Drop for Tally {
    fn drop(&mut self) {
        if !self.ended {
            self.release();
        }
    }
}

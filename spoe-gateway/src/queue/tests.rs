use super::line::{Admit, Grant, Left, Limits, Place, State};

fn limits(maxconn: usize, minconn: usize, maxqueue: usize) -> Limits {
    Limits {
        maxconn,
        minconn,
        maxqueue,
    }
}

fn queued(a: Admit) -> (super::Ticket, Place) {
    match a {
        Admit::Queued(t, p) => (t, p),
        other => panic!("expected to wait, got {other:?}"),
    }
}

fn woken(grants: Vec<Grant<u32>>) -> Vec<(u32, usize, Left)> {
    grants
        .into_iter()
        .map(|g| (g.wake, g.server, g.left))
        .collect()
}

#[test]
fn the_dynamic_limit_follows_the_backend_load_as_haproxys_srv_dynamic_maxconn() {
    // HAProxy's documented example: minconn 100, maxconn 1000, fullconn 10000.
    let l = limits(1000, 100, 0);
    assert_eq!(l.dynamic(0, 10_000), 100);
    assert_eq!(l.dynamic(500, 10_000), 100);
    assert_eq!(l.dynamic(5000, 10_000), 500);
    assert_eq!(l.dynamic(10_000, 10_000), 1000);
    assert_eq!(l.dynamic(20_000, 10_000), 1000);
    // A static limit ignores the load.
    assert_eq!(limits(2, 2, 0).dynamic(0, 10), 2);
}

#[test]
fn beyond_maxconn_requests_wait_and_a_freed_slot_goes_to_the_first() {
    let mut s: State<u32> = State::new([limits(2, 2, 0)], 1);
    assert_eq!(s.admit(Some(0), 1, 1), Admit::Serve(0));
    assert_eq!(s.admit(Some(0), 2, 2), Admit::Serve(0));
    let (_, p3) = queued(s.admit(Some(0), 3, 3));
    let (_, p4) = queued(s.admit(Some(0), 4, 4));
    assert_eq!((p3, p4), (Place::Server(0), Place::Server(0)));
    assert_eq!(s.waiting(Place::Server(0)), 2);
    assert!(s.is_full(0, 4));
    let first = Left {
        place: Place::Server(0),
        position: 1,
    };
    let second = Left {
        place: Place::Server(0),
        position: 2,
    };
    // HAProxy counts 1 for the first place, plus those that left the line meanwhile.
    assert_eq!(woken(s.release(0, true, 4)), vec![(3, 0, first)]);
    assert_eq!(woken(s.release(0, true, 4)), vec![(4, 0, second)]);
    assert_eq!(s.served(0), 2);
    assert!(s.release(0, true, 4).is_empty());
    assert_eq!(s.served(0), 1);
}

#[test]
fn maxqueue_bounds_a_servers_line() {
    let mut s: State<u32> = State::new([limits(1, 1, 2)], 1);
    assert_eq!(s.admit(Some(0), 1, 1), Admit::Serve(0));
    queued(s.admit(Some(0), 2, 2));
    queued(s.admit(Some(0), 3, 3));
    assert_eq!(s.admit(Some(0), 4, 4), Admit::Full);
    assert_eq!(s.waiting(Place::Server(0)), 2);
}

#[test]
fn a_waiter_that_leaves_is_out_of_the_line_at_once_and_gets_no_slot() {
    let mut s: State<u32> = State::new([limits(1, 1, 0)], 1);
    assert_eq!(s.admit(Some(0), 1, 1), Admit::Serve(0));
    let (gone, place) = queued(s.admit(Some(0), 2, 2));
    queued(s.admit(Some(0), 3, 3));
    assert_eq!(s.leave(gone, place), Some(Left { place, position: 1 }));
    assert_eq!(s.waiting(place), 1);
    // Already out: leaving again finds nothing (a granted waiter is told so too).
    assert_eq!(s.leave(gone, place), None);
    let got = woken(s.release(0, true, 2));
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].0, 3);
}

#[test]
fn the_oldest_waiter_of_the_servers_and_the_backends_line_goes_first() {
    let mut s: State<u32> = State::new([limits(1, 1, 0), limits(1, 1, 0)], 1);
    assert_eq!(s.admit(Some(0), 1, 1), Admit::Serve(0));
    assert_eq!(s.admit(Some(1), 2, 2), Admit::Serve(1));
    // Every server full: the balancer sends it to the backend's line.
    assert_eq!(queued(s.admit(None, 3, 3)).1, Place::Backend);
    assert_eq!(queued(s.admit(Some(1), 4, 4)).1, Place::Server(1));
    assert_eq!(queued(s.admit(None, 5, 5)).1, Place::Backend);
    // Server 1 frees: the backend's first waiter is older than its own.
    let got = woken(s.release(1, true, 5));
    assert_eq!(got.len(), 1);
    assert_eq!((got[0].0, got[0].1, got[0].2.place), (3, 1, Place::Backend));
    let got = woken(s.release(1, true, 5));
    assert_eq!((got[0].0, got[0].2.place), (4, Place::Server(1)));
    // Server 0 frees: it takes the backend's next one, whose position counts the one
    // that left that line before it.
    let got = woken(s.release(0, true, 5));
    assert_eq!(
        got,
        vec![(
            5,
            0,
            Left {
                place: Place::Backend,
                position: 2
            }
        )]
    );
}

#[test]
fn a_server_that_may_not_take_from_the_backend_serves_only_its_own_line() {
    let mut s: State<u32> = State::new([limits(1, 1, 0)], 1);
    assert_eq!(s.admit(Some(0), 1, 1), Admit::Serve(0));
    queued(s.admit(None, 2, 2));
    assert!(s.release(0, false, 2).is_empty());
    assert_eq!(s.waiting(Place::Backend), 1);
    assert_eq!(woken(s.dispatch(0, true, 2)).len(), 1);
}

#[test]
fn a_server_without_maxconn_never_makes_a_request_wait() {
    let mut s: State<u32> = State::new([limits(0, 0, 0), limits(1, 1, 0)], 1);
    for k in 0..100 {
        assert_eq!(s.admit(Some(0), k, 0), Admit::Serve(0));
    }
    assert!(!s.is_full(0, 100));
    assert!(!s.lc_full(0, 100));
}

#[test]
fn leastconn_passes_over_a_server_at_its_limit_plus_its_maxqueue() {
    let mut s: State<u32> = State::new([limits(1, 1, 1)], 1);
    assert_eq!(s.admit(Some(0), 1, 1), Admit::Serve(0));
    // roundrobin passes over it now; leastconn may still queue one on it.
    assert!(s.is_full(0, 1));
    assert!(!s.lc_full(0, 1));
    queued(s.admit(Some(0), 2, 2));
    assert!(s.lc_full(0, 2));
}

#[test]
fn with_minconn_a_light_backend_keeps_a_server_at_its_minconn() {
    // minconn 1, maxconn 4, fullconn 8: at 2 streams the limit is max(1, 2*4/8) = 1.
    let mut s: State<u32> = State::new([limits(4, 1, 0)], 8);
    assert_eq!(s.admit(Some(0), 2, 1), Admit::Serve(0));
    queued(s.admit(Some(0), 2, 2));
    // At 8 streams the limit is 4: a release lets the waiter in and more.
    let got = woken(s.release(0, true, 8));
    assert_eq!(got.len(), 1);
    assert_eq!(s.served(0), 1);
    assert!(!s.is_full(0, 8));
}

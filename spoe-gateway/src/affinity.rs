//! `cpu-map`: the CPUs the gateway runs on, as HAProxy 2.6 binds its process and threads
//! (`set_thread_cpu_affinity()` in `src/thread.c`, and `main()` for the process).
//!
//! The process map is set on every thread the process has before the worker threads exist, so
//! every thread has it (HAProxy sets it in its master-worker and daemon modes; the gateway is
//! its own master, so always). A worker thread with a map of its own runs on that map within
//! the process's, HAProxy's thread `N` being the gateway's worker `N - 1`.

use std::collections::BTreeSet;

/// A set of CPU numbers.
pub(crate) type CpuSet = BTreeSet<usize>;

/// What `cpu-map` lines say.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct CpuMap {
    /// The whole process's CPUs (`cpu-map 1 0-3`, or `cpu-map 1/1 0-3`).
    pub(crate) process: Option<CpuSet>,
    /// Each thread's CPUs, by thread index from 0 (HAProxy's thread 1).
    pub(crate) threads: Vec<Option<CpuSet>>,
}

impl CpuMap {
    /// Whether any line mapped anything.
    pub(crate) fn is_empty(&self) -> bool {
        self.process.is_none() && self.threads.iter().all(Option::is_none)
    }

    /// The CPUs thread `index` (from 0) is bound to: its own map within the process's;
    /// `None`: no map of its own (it keeps what it inherited).
    pub(crate) fn thread(&self, index: usize) -> Option<CpuSet> {
        let own = self.threads.get(index)?.as_ref()?;
        let set: CpuSet = match &self.process {
            Some(p) => own.intersection(p).copied().collect(),
            None => own.clone(),
        };
        (!set.is_empty()).then_some(set)
    }
}

/// What `cpu-map` binds, for the command that starts the threads.
#[derive(Debug, Clone)]
pub struct CpuBinding(pub(crate) CpuMap);

impl CpuBinding {
    /// Binds the calling thread to the process's CPUs (`thread` `None`: threads it starts
    /// afterwards inherit them), or to worker thread `thread`'s own (from 0, HAProxy's thread
    /// 1), called from that thread. Nothing to bind is `Ok`.
    pub fn bind(&self, thread: Option<usize>) -> std::io::Result<()> {
        let set = match thread {
            None => self.0.process.clone(),
            Some(i) => self.0.thread(i),
        };
        match (set, thread) {
            (Some(cpus), None) => bind_process(&cpus),
            (Some(cpus), Some(_)) => bind_current_thread(&cpus),
            (None, _) => Ok(()),
        }
    }
}

/// Binds every thread the process has now (those started afterwards inherit it from their
/// parent): HAProxy binds its process before it has threads; the gateway may already have a
/// few (its log writer).
fn bind_process(cpus: &CpuSet) -> std::io::Result<()> {
    let mask = mask(cpus)?;
    for task in std::fs::read_dir("/proc/self/task")? {
        let Some(tid) = task?.file_name().to_str().and_then(|t| t.parse().ok()) else {
            continue;
        };
        nix::sched::sched_setaffinity(nix::unistd::Pid::from_raw(tid), &mask)
            .map_err(std::io::Error::from)?;
    }
    Ok(())
}

fn mask(cpus: &CpuSet) -> std::io::Result<nix::sched::CpuSet> {
    let mut mask = nix::sched::CpuSet::new();
    for &cpu in cpus {
        mask.set(cpu).map_err(std::io::Error::from)?;
    }
    Ok(mask)
}

/// Binds the calling thread to `cpus`.
fn bind_current_thread(cpus: &CpuSet) -> std::io::Result<()> {
    nix::sched::sched_setaffinity(nix::unistd::Pid::from_raw(0), &mask(cpus)?)
        .map_err(std::io::Error::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_thread_runs_on_its_map_within_the_process_map() {
        let map = CpuMap {
            process: Some(CpuSet::from([0, 1])),
            threads: vec![Some(CpuSet::from([1, 2])), None, Some(CpuSet::from([3]))],
        };
        assert_eq!(map.thread(0), Some(CpuSet::from([1])));
        assert_eq!(map.thread(1), None);
        // Nothing left of its map within the process's: no binding of its own, as HAProxy.
        assert_eq!(map.thread(2), None);
        assert_eq!(map.thread(7), None);
    }
}

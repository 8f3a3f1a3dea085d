//! Reloads: a new generation loaded off the serving threads, the old one drained and freed
//! off them too.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tracing::{info, warn};

use super::{DEFAULT_HARD_STOP_AFTER, Gateway, ReloadError, ensure_listener};
use crate::generation::Generation;

impl Gateway {
    /// Validates and loads the configuration again. On success new requests
    /// use the new generation at once; the old one finishes its requests,
    /// drains its engines and is dropped (bounded by `hard-stop-after`). On
    /// failure the running generation stays and the error lists every problem
    /// (a configuration without any listener is refused too); the caller
    /// logs it, once.
    pub async fn reload(self: &Arc<Self>) -> Result<u64, ReloadError> {
        let _one_at_a_time = self.reload_lock.lock().await;
        // Reading and checking the files (a pattern file of a million lines, regexes, every
        // spoe.conf) runs on a blocking thread: the runtime that accepts connections and the
        // workers that serve them never wait for it.
        let loader = self.loader.clone();
        let loading = tokio::task::spawn_blocking(move || {
            loader().and_then(|l| ensure_listener(&l.config).map(|()| l))
        });
        let loaded = loading.await.unwrap_or_else(|e| {
            Err(ReloadError::Load(format!(
                "the thread loading the configuration failed: {e}"
            )))
        });
        let loaded = match loaded {
            Ok(l) => l,
            Err(e) => {
                self.metrics.reload_failures.inc();
                return Err(e);
            }
        };
        if let Some(why) = crate::process::changed_on_reload(
            &self.current().config.global.process,
            &loaded.config.global.process,
        ) {
            self.metrics.reload_failures.inc();
            return Err(ReloadError::Restart(why));
        }
        let id = self.next_id.fetch_add(1, Ordering::SeqCst);
        if let Some(n) = loaded.config.global.nbthread
            && n != self.workers.len()
        {
            // As with HAProxy, the thread count is fixed at start.
            warn!(
                nbthread = n,
                workers = self.workers.len(),
                "nbthread changed: it takes effect at the next start, not on reload"
            );
        }
        let config = Arc::new(loaded.config);
        if let Err(e) = self.bind_listeners(&config).await {
            self.metrics.reload_failures.inc();
            return Err(e);
        }
        if let Err(e) = self.bind_stats_sockets(&config) {
            self.metrics.reload_failures.inc();
            return Err(e);
        }
        let limits_config = config.clone();
        let generation = match Generation::start(
            id,
            config,
            &loaded.var_names,
            &self.workers,
            &self.metrics.stats,
            &self.sinks,
            &self.metrics.lua_errors,
        ) {
            Ok(mut g) => {
                g.inherit_tables(&self.current());
                Arc::new(g)
            }
            Err(e) => {
                self.metrics.reload_failures.inc();
                return Err(e.into());
            }
        };
        self.limits.configure(&limits_config, self.workers.len());
        self.rates.configure(&limits_config);
        let old = std::mem::replace(
            &mut *self
                .current
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
            generation,
        );
        self.metrics.reloads.inc();
        self.metrics.generations.inc();
        info!(generation = id, previous = old.id, "configuration reloaded");
        let bound = old
            .config
            .global
            .hard_stop_after
            .unwrap_or(DEFAULT_HARD_STOP_AFTER);
        let metrics = self.metrics.clone();
        // Its agents' counters stay in the `spoe_agent_*` totals.
        metrics.retiring(old.clone());
        self.retiring.spawn(async move {
            // Idle agent connections close now, busy ones after their last ACK.
            old.drain();
            let in_time = tokio::time::timeout(bound, async {
                old.idle().await;
                old.drained().await;
            })
            .await;
            if in_time.is_err() {
                // Its `mode tcp` connections still open end now, as HAProxy's old process's.
                old.cut.cancel();
            }
            info!(generation = old.id, "generation retired");
            metrics.retired(&old);
            metrics.generations.dec();
            release_off_the_workers(old).await;
        });
        Ok(id)
    }
}

/// Frees a retired generation (its pattern indexes may hold a million entries) on a blocking
/// thread, not on whichever worker would release the last reference: requests still
/// finishing on it release theirs within moments of it going idle, so its last reference is
/// awaited here (at most a second, then left to whoever holds it).
async fn release_off_the_workers(mut generation: Arc<Generation>) {
    for _ in 0..100 {
        match Arc::try_unwrap(generation) {
            Ok(last) => {
                let _ = tokio::task::spawn_blocking(move || drop(last)).await;
                return;
            }
            Err(shared) => generation = shared,
        }
        // The poll of a bounded wait for the last request's own release.
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

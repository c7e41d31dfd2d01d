//! skiff's scheduler on a thread of its own (a current-thread runtime with its
//! own client), so its CPU time is read from `/proc/self/task/<tid>/stat` apart
//! from the benchmark's: the figure is the scheduler's alone, HTTP client included.

use std::path::PathBuf;
use std::thread::JoinHandle;

use anyhow::Context;
use tokio_util::sync::CancellationToken;

pub struct SchedulerThread {
    tid: libc::pid_t,
    stop: CancellationToken,
    handle: JoinHandle<()>,
}

impl SchedulerThread {
    /// Starts the scheduler as a client of the cluster in `kubeconfig`.
    pub fn start(kubeconfig: PathBuf) -> anyhow::Result<SchedulerThread> {
        let stop = CancellationToken::new();
        let (tid_tx, tid_rx) = std::sync::mpsc::channel();
        let token = stop.clone();
        let handle = std::thread::Builder::new().name("scheduler".into()).spawn(move || {
            // SAFETY: gettid has no preconditions.
            let _ = tid_tx.send(unsafe { libc::gettid() });
            let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                Ok(r) => r,
                Err(e) => return eprintln!("scheduler runtime: {e}"),
            };
            runtime.block_on(async move {
                let client = match skiff_scheduler::shell::client_from_kubeconfig(&kubeconfig, "kube-scheduler").await {
                    Ok(c) => c,
                    Err(e) => return eprintln!("scheduler client: {e}"),
                };
                let scheduler = skiff_scheduler::Scheduler::new(client, skiff_scheduler::SchedulerConfig::default());
                if let Err(e) = scheduler.run(token).await {
                    eprintln!("scheduler: {e}");
                }
            });
        })?;
        let tid = tid_rx.recv().context("the scheduler thread did not start")?;
        Ok(SchedulerThread { tid, stop, handle })
    }

    /// CPU seconds the scheduler thread has used so far.
    pub fn cpu_seconds(&self) -> f64 {
        super::server::cpu_seconds(&format!("self/task/{}", self.tid))
    }

    /// Stops the scheduler and waits for its thread.
    pub fn stop(self) {
        self.stop.cancel();
        let _ = self.handle.join();
    }
}

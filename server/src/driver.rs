//! Access to the engine from async request handlers.
//!
//! The [`Engine`] is synchronous and single-threaded, so it lives on a dedicated thread: the
//! handlers send it jobs (closures over `&mut Engine`) and await the answer, which never blocks
//! a tokio worker. After every job the thread runs [`Engine::process`] so that produced records
//! reach persistent and push queries; while push queries or PRINTs run it also wakes up on a
//! short tick, because their clients make room for more results without sending a job.
//!
//! Everything outside this module goes through [`EngineHandle`], so how the engine is driven
//! (this thread over the in-memory topics today; Kafka-driven tasks later) can change here alone.

use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use runnel_runtime::Engine;
use tokio::sync::oneshot;

use crate::error::ServerError;

type Job = Box<dyn FnOnce(&mut Engine) + Send>;

/// How often the engine thread polls while transient queries run and no job arrives.
const TRANSIENT_TICK: Duration = Duration::from_millis(20);

/// A cloneable handle to the engine thread. The thread stops when every handle is dropped.
#[derive(Clone)]
pub struct EngineHandle {
    jobs: mpsc::Sender<Job>,
}

impl EngineHandle {
    /// Moves `engine` onto its own thread.
    pub fn spawn(engine: Engine) -> std::io::Result<Self> {
        let (jobs, inbox) = mpsc::channel::<Job>();
        thread::Builder::new().name("runnel-engine".into()).spawn(move || drive(engine, inbox))?;
        Ok(EngineHandle { jobs })
    }

    /// Runs `job` on the engine thread and returns its result; records it produced are
    /// processed before the next job runs.
    pub async fn run<T: Send + 'static>(&self, job: impl FnOnce(&mut Engine) -> T + Send + 'static) -> Result<T, ServerError> {
        let (reply, answer) = oneshot::channel();
        let job: Job = Box::new(move |engine| {
            // The requester may have gone away (client disconnected): nothing to tell then.
            let _ = reply.send(job(engine));
        });
        self.jobs.send(job).map_err(|_| ServerError::ShuttingDown)?;
        // The reply is dropped unsent only if the job panicked (the thread survives that).
        answer.await.map_err(|_| ServerError::Internal("the engine failed while running this request".into()))
    }

    /// Asks the engine thread to process pending input (e.g. after a client read results).
    pub fn wake(&self) {
        let _ = self.jobs.send(Box::new(|_| {}));
    }
}

fn drive(mut engine: Engine, inbox: mpsc::Receiver<Job>) {
    loop {
        let job = if engine.has_transients() {
            match inbox.recv_timeout(TRANSIENT_TICK) {
                Ok(job) => Some(job),
                Err(mpsc::RecvTimeoutError::Timeout) => None,
                Err(mpsc::RecvTimeoutError::Disconnected) => return,
            }
        } else {
            match inbox.recv() {
                Ok(job) => Some(job),
                Err(mpsc::RecvError) => return,
            }
        };
        if let Some(job) = job {
            // A panicking job must not take the engine (and every query) down with it.
            if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(&mut engine))).is_err() {
                tracing::error!("an engine job panicked; the request got an internal error");
            }
            // Run queued jobs before processing, so a burst of inserts is processed once.
            while let Ok(job) = inbox.try_recv() {
                if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(&mut engine))).is_err() {
                    tracing::error!("an engine job panicked; the request got an internal error");
                }
            }
        }
        if let Err(e) = engine.process() {
            tracing::warn!(error = %e, "query processing failed");
        }
    }
}

//! Running a call that may block (an `Always` fsync, a long poll) from a
//! connection's task. Below the connection, the handler and the durability
//! waits, which all use it.

/// Run `call`, which may block (an `Always` fsync, a long poll), without
/// stalling the runtime. On the multi-threaded runtime (`millrace serve`) it
/// runs right here under `block_in_place`: the runtime hands this worker's
/// other tasks to another thread while the request needs no hop to the
/// blocking pool and back (two thread wake-ups on its latency path). Elsewhere
/// (a current-thread runtime, as in some tests) it goes to the blocking pool.
/// A panic in `call` comes back as the `Err` either way.
pub(crate) async fn run_blocking<T: Send + 'static>(
    call: impl FnOnce() -> T + Send + 'static,
) -> Result<T, Box<dyn std::any::Any + Send>> {
    use tokio::runtime::{Handle, RuntimeFlavor};
    if Handle::current().runtime_flavor() == RuntimeFlavor::MultiThread {
        tokio::task::block_in_place(|| std::panic::catch_unwind(std::panic::AssertUnwindSafe(call)))
    } else {
        tokio::task::spawn_blocking(call).await.map_err(|join_error| {
            let panic: Box<dyn std::any::Any + Send> = Box::new(join_error.to_string());
            panic
        })
    }
}

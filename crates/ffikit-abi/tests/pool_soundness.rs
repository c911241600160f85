//! The pool under the uses that broke it (issue 26): a scoped result borrowing the scope's
//! environment and dropped on the worker, a scope inside a job of a pool with no free worker,
//! the last handle to a pool dropped inside its own job, a pool the OS refuses threads to,
//! and a panic in a scoped job nobody joins. `.ci/run` runs these under memcheck too (an
//! invalid read is an error there) and under helgrind.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::time::Duration;

use ffikit_abi::{ErrorKind, Pool};

/// Fails the test instead of hanging when `job` does not finish in time (a deadlock).
fn within<T: Send + 'static>(seconds: u64, job: impl FnOnce() -> T + Send + 'static) -> T {
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = sender.send(job());
    });
    receiver
        .recv_timeout(Duration::from_secs(seconds))
        .expect("deadlock: the job did not finish")
}

/// The scope's environment: records when it is gone.
struct Environment {
    value: Box<u64>,
    freed: &'static AtomicBool,
}

impl Drop for Environment {
    fn drop(&mut self) {
        self.freed.store(true, Ordering::SeqCst);
    }
}

/// A job's result that borrows the environment and reads it when dropped.
struct Borrowing<'a> {
    environment: &'a Environment,
    read_late: &'static AtomicBool,
}

impl Drop for Borrowing<'_> {
    fn drop(&mut self) {
        // Slow, so that a scope returning early would free the environment meanwhile.
        std::thread::sleep(Duration::from_millis(20));
        if self.environment.freed.load(Ordering::SeqCst) {
            self.read_late.store(true, Ordering::SeqCst);
        }
        assert_eq!(*self.environment.value, 42); // (a use after free under memcheck)
    }
}

#[test]
fn a_result_dropped_on_the_worker_is_dropped_before_the_scope_returns() {
    static FREED: AtomicBool = AtomicBool::new(false);
    static READ_LATE: AtomicBool = AtomicBool::new(false);
    let pool = Pool::with_threads(2);
    for _ in 0..5 {
        FREED.store(false, Ordering::SeqCst);
        let environment = Environment {
            value: Box::new(42),
            freed: &FREED,
        };
        pool.scope(|scope| {
            // The handle goes at once: the worker holds the result's last reference.
            drop(scope.spawn(|| Borrowing {
                environment: &environment,
                read_late: &READ_LATE,
            }));
        });
        drop(environment);
        assert!(
            !READ_LATE.load(Ordering::SeqCst),
            "the result was dropped after the scope returned"
        );
    }
}

#[test]
fn a_scope_inside_a_job_of_a_dedicated_pool_does_not_deadlock() {
    let got = within(20, || {
        let pool = Arc::new(Pool::dedicated());
        let inner = Arc::clone(&pool);
        pool.spawn(move || {
            let data = [1, 2, 3];
            inner.scope(|scope| {
                let calls: Vec<_> = (0..3).map(|i| scope.spawn(move || data[i] * 10)).collect();
                calls.into_iter().map(|call| call.join()).sum::<i32>()
            })
        })
        .join()
    });
    assert_eq!(got, 60);
}

#[test]
fn the_last_pool_handle_dropped_in_its_own_job_shuts_the_pool_down() {
    let finished = within(20, || {
        let pool = Arc::new(Pool::with_threads(2));
        let inside = Arc::clone(&pool);
        let (dropped_outside, wait_for_it) = mpsc::channel::<()>();
        let job = pool.spawn(move || {
            wait_for_it.recv().unwrap();
            // The last handle: the pool is dropped on its own worker.
            drop(inside);
            "shut down"
        });
        drop(pool);
        dropped_outside.send(()).unwrap();
        job.join()
    });
    assert_eq!(finished, "shut down");
}

#[test]
fn a_panic_in_a_scoped_job_nobody_joins_is_resumed_when_the_scope_ends() {
    let pool = Pool::with_threads(2);
    let ran_after = AtomicBool::new(false);
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        pool.scope(|scope| {
            drop(scope.spawn(|| panic!("the unjoined job failed")));
            drop(scope.spawn(|| ran_after.store(true, Ordering::SeqCst)));
        })
    }));
    let panic = outcome.expect_err("the scope resumes the job's panic");
    assert_eq!(
        panic.downcast_ref::<&str>(),
        Some(&"the unjoined job failed")
    );
    // The scope still waited for every job.
    assert!(ran_after.load(Ordering::SeqCst));
    // A joined panic is the caller's, once; the scope then ends normally.
    let joined = pool.scope(|scope| {
        catch_unwind(AssertUnwindSafe(|| scope.spawn(|| panic!("joined")).join())).is_err()
    });
    assert!(joined);
}

/// The threads of this process, as the kernel lists them.
fn threads_now() -> usize {
    std::fs::read_dir("/proc/self/task").unwrap().count()
}

#[test]
fn a_pool_the_os_refuses_threads_is_an_error_with_no_thread_left_behind() {
    // In a child process: its address space is limited so that thread stacks run out.
    if std::env::var_os("FFIKIT_POOL_UNDER_LIMIT").is_none() {
        let output = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "a_pool_the_os_refuses_threads_is_an_error_with_no_thread_left_behind",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("FFIKIT_POOL_UNDER_LIMIT", "1")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success() && stdout.contains("refused after"),
            "{stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        return;
    }
    let limit = libc::rlimit {
        rlim_cur: 1 << 30,
        rlim_max: 1 << 30,
    };
    // SAFETY: setting this process's own limit with a valid struct.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_AS, &limit) }, 0);
    let before = threads_now();
    let error = Pool::try_with_threads(100_000).expect_err("1 GiB holds no 100,000 stacks");
    assert_eq!(error.kind(), ErrorKind::ThreadSpawn);
    assert_eq!(threads_now(), before, "no worker left behind");
    println!("refused after {error}");
    // The infallible constructor panics with the same message.
    let panic = catch_unwind(|| Pool::with_threads(100_000)).expect_err("it panics");
    assert!(panic.downcast_ref::<String>().unwrap().contains("refused"));
    assert_eq!(threads_now(), before);
    // A pool of what fits still works.
    assert_eq!(Pool::try_with_threads(2).unwrap().spawn(|| 5).join(), 5);
}

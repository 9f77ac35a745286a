//! A team of helper threads for short fork-joins: the caller works too, helpers spin a while before they sleep.
//!
//! A layer call lasts from tens of microseconds to milliseconds, so the cost that matters is the hand-off, not
//! the scheduling: a helper that went to sleep between calls takes microseconds to wake (a visible share of a
//! 40 us call), and a caller that sleeps while the helpers work takes as long to wake again. Here the calling
//! thread publishes the job and starts on it at once; helpers that are still spinning from the previous call
//! join within about a microsecond, sleeping ones are woken and take only what is left; the caller spins
//! (never sleeps) until every helper that entered the job has left it. Tasks are taken from a shared counter,
//! and which task computes an output never depends on the thread that runs it, so results are bitwise the same
//! for any thread count.
//!
//! One team serves the process, one job at a time: a caller that finds it busy (another thread's layer) runs its
//! tasks alone. A child process created by `fork` has no helpers (only the forking thread survives): no helper
//! joins its jobs, so its layers run on the calling thread (a fork that lands within the few instructions where
//! a helper enters or leaves a job would leave that helper counted in the child, and its first threaded layer
//! waiting for it forever; the caller never blocks on a lock a vanished helper held).

use crate::error::{Error, Result};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// How long an idle helper spins on the job slot before it sleeps: long enough to span the gap between the
/// layers of a network run back to back, short enough to give the core back soon after the last call. The
/// environment variable `SIMDCONV_SPIN_US` (microseconds, read once) overrides it, [`set_spin_time`] overrides
/// both; 0 sleeps at once.
const SPIN: Duration = Duration::from_millis(2);

/// The spin time set by [`set_spin_time`] in microseconds, or `u64::MAX` while none is set.
static SPIN_SET_US: AtomicU64 = AtomicU64::new(u64::MAX);

/// Sets how long idle helper threads spin before they sleep (from their next wait on), overriding
/// `SIMDCONV_SPIN_US` and the 2 ms default; `Duration::ZERO` makes them sleep after every job. Longer spins make
/// threaded calls that follow each other within that time start sooner, shorter ones give the cores back sooner.
pub fn set_spin_time(spin: Duration) {
    let us = u64::try_from(spin.as_micros()).unwrap_or(u64::MAX - 1).min(u64::MAX - 1);
    SPIN_SET_US.store(us, Ordering::Relaxed);
}

/// The spin time: [`set_spin_time`]'s, else `SIMDCONV_SPIN_US` if set to a number of microseconds, else [`SPIN`].
fn spin_time() -> Duration {
    let set = SPIN_SET_US.load(Ordering::Relaxed);
    if set != u64::MAX {
        return Duration::from_micros(set);
    }
    static T: OnceLock<Duration> = OnceLock::new();
    *T.get_or_init(|| {
        std::env::var("SIMDCONV_SPIN_US")
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map_or(SPIN, Duration::from_micros)
    })
}

/// Busy-wait steps between yields to the OS (a spin-loop hint lasts tens of cycles: about a microsecond).
const YIELD_EVERY: u32 = 64;

/// The job a helper runs: a type-erased `&(dyn Fn() + Sync)` on the caller's stack.
type Job<'a> = &'a (dyn Fn() + Sync);

/// State shared by the caller and the helpers of one team.
struct Shared {
    /// `(job number << 1) | open`: a helper may enter the job only while its number is current and it is open.
    state: AtomicU64,
    /// Points at the open job's [`Job`] (valid while `state` says the job is open or helpers are in it).
    job: AtomicPtr<Job<'static>>,
    /// Helpers inside the current job.
    inside: AtomicUsize,
    /// How many helpers the open job wants, and how many have asked to join it.
    wanted: AtomicUsize,
    tickets: AtomicUsize,
    /// A helper's job panicked (the caller re-raises it).
    panicked: AtomicBool,
    /// Helpers asleep (or about to be) on `wake`.
    sleepers: AtomicUsize,
    lock: Mutex<()>,
    wake: Condvar,
}

/// The helper threads (started on demand, never stopped) and the lock that lets one job run at a time.
pub(crate) struct Team {
    shared: Arc<Shared>,
    /// Held by the caller running a job; a second caller that finds it taken runs its tasks alone.
    busy: Mutex<()>,
    /// Helpers started so far.
    started: AtomicUsize,
}

impl Team {
    /// Starts helpers until there are `helpers` (under `busy`, so never two at once); returns how many there are.
    /// A thread the OS refuses to start is not an error: the job runs on fewer threads, with the same results.
    fn grow(&self, helpers: usize) -> usize {
        while self.started.load(Ordering::Relaxed) < helpers {
            let i = self.started.load(Ordering::Relaxed);
            let s = self.shared.clone();
            let spawned = std::thread::Builder::new().name(format!("simdconv-{i}")).spawn(move || helper(&s));
            if spawned.is_err() {
                break;
            }
            self.started.store(i + 1, Ordering::Relaxed);
        }
        self.started.load(Ordering::Relaxed).min(helpers)
    }

    /// Runs `work` on the calling thread and on at most `helpers` helpers that arrive while the job is open;
    /// returns when all of them have returned from it. `work` must take its tasks from a shared counter (it may
    /// run on any number of helpers, from none to `helpers`).
    fn run(&self, helpers: usize, work: &(dyn Fn() + Sync)) -> Result<()> {
        let _guard = match self.busy.try_lock() {
            Ok(g) => g,
            // Another thread is running a job on the team: run alone rather than wait for it.
            Err(_) => {
                work();
                return Ok(());
            }
        };
        let helpers = self.grow(helpers);
        let s = &*self.shared;
        let job: Job<'_> = work;
        // SAFETY: the lifetime is erased only for the helpers' view; they dereference the pointer only while the
        // job is open and they are counted in `inside`, and this function returns after closing the job and
        // seeing `inside` reach zero, so `job` (on this stack frame) outlives every use.
        let job_ptr = unsafe { std::mem::transmute::<&Job<'_>, &Job<'static>>(&job) } as *const Job<'static>;
        s.job.store(job_ptr.cast_mut(), Ordering::Relaxed);
        s.wanted.store(helpers, Ordering::Relaxed);
        s.tickets.store(0, Ordering::Relaxed);
        // A job reports only its own helpers' panics (a flag left set by an earlier job never reaches this one).
        s.panicked.store(false, Ordering::Relaxed);
        let open = (s.state.load(Ordering::Relaxed) & !1) + 3;
        s.state.store(open, Ordering::SeqCst);
        if s.sleepers.load(Ordering::SeqCst) > 0 {
            // Taking the lock orders the new state against a helper about to wait; notifying after releasing it
            // keeps a woken helper from blocking on the lock the caller still holds. The caller never blocks on
            // the lock: if a helper holds it (between deciding to sleep and sleeping), that helper may sleep
            // through this job, which then runs on fewer threads, and wakes for the next one.
            if let Ok(g) = s.lock.try_lock() {
                drop(g);
            }
            s.wake.notify_all();
        }
        let mine = catch_unwind(AssertUnwindSafe(work));
        // Close the job, then wait for the helpers inside it (a helper that enters after the close sees it and
        // leaves without touching the job).
        s.state.store(open & !1, Ordering::SeqCst);
        let mut spins = 0u32;
        while s.inside.load(Ordering::SeqCst) != 0 {
            pause(&mut spins);
        }
        let helper_panicked = s.panicked.swap(false, Ordering::Relaxed);
        if let Err(p) = mine {
            std::panic::resume_unwind(p);
        }
        if helper_panicked {
            return Err(Error::Internal("a helper thread panicked".into()));
        }
        Ok(())
    }
}

/// A helper's life: wait for an open job it has not run, run it, repeat.
fn helper(s: &Shared) {
    let mut done = 0u64;
    loop {
        let mut st = s.state.load(Ordering::Acquire);
        if st & 1 == 0 || st == done {
            let (t0, spin) = (Instant::now(), spin_time());
            let mut spins = 0u32;
            loop {
                pause(&mut spins);
                st = s.state.load(Ordering::Acquire);
                if st & 1 == 1 && st != done {
                    break;
                }
                if spins.is_multiple_of(YIELD_EVERY) && t0.elapsed() > spin {
                    st = sleep(s, done);
                    break;
                }
            }
        }
        // Enter, then check the job is still open (pairs with the caller's close-then-wait, both SeqCst).
        s.inside.fetch_add(1, Ordering::SeqCst);
        if s.state.load(Ordering::SeqCst) == st {
            let job = s.job.load(Ordering::Relaxed);
            let joins = s.tickets.fetch_add(1, Ordering::Relaxed) < s.wanted.load(Ordering::Relaxed);
            // SAFETY: the job is open and this helper is counted in `inside`, so the caller is still in
            // `Team::run` and `job` points at its live `Job` (stored before the state that opened it; the
            // acquire load of that state orders it).
            let f = unsafe { *job };
            if joins && catch_unwind(AssertUnwindSafe(f)).is_err() {
                s.panicked.store(true, Ordering::Relaxed);
            }
        }
        done = st;
        s.inside.fetch_sub(1, Ordering::SeqCst);
    }
}

/// One step of a busy wait: a spin-loop hint, and every [`YIELD_EVERY`] steps a yield to the OS, so that a
/// waiting thread never starves one the scheduler put on the same core (the caller it waits for, or a helper that
/// still holds a task).
#[inline]
fn pause(spins: &mut u32) {
    *spins = spins.wrapping_add(1);
    if spins.is_multiple_of(YIELD_EVERY) {
        std::thread::yield_now();
    } else {
        std::hint::spin_loop();
    }
}

/// Sleeps until a job other than `done` opens; returns its state.
fn sleep(s: &Shared, done: u64) -> u64 {
    let mut g = s.lock.lock().unwrap_or_else(|p| p.into_inner());
    s.sleepers.fetch_add(1, Ordering::SeqCst);
    loop {
        let st = s.state.load(Ordering::SeqCst);
        if st & 1 == 1 && st != done {
            s.sleepers.fetch_sub(1, Ordering::SeqCst);
            return st;
        }
        g = s.wake.wait(g).unwrap_or_else(|p| p.into_inner());
    }
}

/// The process's team, created on first use.
fn team() -> &'static Team {
    static TEAM: OnceLock<Team> = OnceLock::new();
    TEAM.get_or_init(|| Team {
        shared: Arc::new(Shared {
            state: AtomicU64::new(0),
            job: AtomicPtr::new(std::ptr::null_mut()),
            inside: AtomicUsize::new(0),
            wanted: AtomicUsize::new(0),
            tickets: AtomicUsize::new(0),
            panicked: AtomicBool::new(false),
            sleepers: AtomicUsize::new(0),
            lock: Mutex::new(()),
            wake: Condvar::new(),
        }),
        busy: Mutex::new(()),
        started: AtomicUsize::new(0),
    })
}

/// Runs `task(0..n)` on `threads` threads, the calling thread among them: every thread takes the next task from a
/// shared counter. The first error stops the hand-out of further tasks and is returned.
pub(crate) fn run_tasks(n: usize, threads: usize, task: impl Fn(usize) -> Result<()> + Sync) -> Result<()> {
    run_in_runs(n, threads, 1, task)
}

/// [`run_tasks`] with the tasks handed out as one contiguous run per thread: each thread works through a run of its
/// own front to back, then helps finish the others' (taking their next tasks, so the balance stays that of one
/// shared counter). Neighbouring tasks then run on the same core one after the other, for tasks that share data
/// with their neighbours (a depthwise row block reads the input rows its predecessor read last); the calling thread
/// always starts on the first run, so with one helper each thread keeps its share of a layer from call to call.
pub(crate) fn run_task_runs(n: usize, threads: usize, task: impl Fn(usize) -> Result<()> + Sync) -> Result<()> {
    run_in_runs(n, threads, threads, task)
}

/// Most runs [`run_in_runs`] splits the tasks into.
const MAX_RUNS: usize = 64;

/// Runs `task(0..n)` on `threads` threads, the tasks split into `runs` contiguous runs with a counter each: the
/// calling thread starts on run 0, helpers on the runs after it in their order of arrival, and each then moves on
/// to the next runs in turn. The first error stops the hand-out of further tasks and is returned.
fn run_in_runs(n: usize, threads: usize, runs: usize, task: impl Fn(usize) -> Result<()> + Sync) -> Result<()> {
    if threads <= 1 || n <= 1 {
        return (0..n).try_for_each(task);
    }
    let runs = runs.clamp(1, MAX_RUNS).min(n);
    // Run r: tasks r * n / runs .. (r + 1) * n / runs, the next one to hand out in `next[r]` (only the runs in use
    // are set: no divisions on the one-run path of every threaded call).
    let next: [AtomicUsize; MAX_RUNS] = std::array::from_fn(|_| AtomicUsize::new(0));
    for (r, start) in next.iter().enumerate().take(runs).skip(1) {
        start.store(r * n / runs, Ordering::Relaxed);
    }
    // With one run every thread starts on it; otherwise the caller on run 0, the helpers on the runs after it.
    let caller = (runs > 1).then(|| std::thread::current().id());
    let arrivals = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let failed: Mutex<Option<Error>> = Mutex::new(None);
    let work = || {
        let first = match caller {
            Some(id) if std::thread::current().id() != id => (1 + arrivals.fetch_add(1, Ordering::Relaxed)) % runs,
            _ => 0,
        };
        for r in (first..runs).chain(0..first) {
            let end = (r + 1) * n / runs;
            while !stop.load(Ordering::Relaxed) {
                let i = next[r].fetch_add(1, Ordering::Relaxed);
                if i >= end {
                    break;
                }
                if let Err(e) = task(i) {
                    stop.store(true, Ordering::Relaxed);
                    failed.lock().unwrap_or_else(|p| p.into_inner()).get_or_insert(e);
                    return;
                }
            }
        }
    };
    team().run((threads - 1).min(n - 1), &work)?;
    failed.into_inner().unwrap_or_else(|p| p.into_inner()).map_or(Ok(()), Err)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `n` tasks on `threads` threads, counting how often each ran.
    fn counts(n: usize, threads: usize) -> Vec<usize> {
        counts_in_runs(n, threads, 1)
    }

    /// As [`counts`], the tasks in `runs` runs.
    fn counts_in_runs(n: usize, threads: usize, runs: usize) -> Vec<usize> {
        let hits: Vec<AtomicUsize> = (0..n).map(|_| AtomicUsize::new(0)).collect();
        run_in_runs(n, threads, runs, |i| {
            hits[i].fetch_add(1, Ordering::Relaxed);
            Ok(())
        })
        .unwrap();
        hits.into_iter().map(AtomicUsize::into_inner).collect()
    }

    #[test]
    fn every_task_runs_once() {
        for threads in [1, 2, 3, 5] {
            for runs in [1, 2, 3, threads, 100] {
                for n in [0, 1, 2, 3, 7, 64, 1000] {
                    for _ in 0..20 {
                        let c = counts_in_runs(n, threads, runs);
                        assert!(c.iter().all(|&c| c == 1), "n {n} threads {threads} runs {runs}");
                    }
                }
            }
        }
    }

    #[test]
    fn first_error_is_returned_and_stops_the_hand_out() {
        for (threads, runs) in [(1, 1), (2, 1), (4, 1), (2, 2), (4, 4)] {
            let ran = AtomicUsize::new(0);
            let r = run_in_runs(2_000, threads, runs, |i| {
                ran.fetch_add(1, Ordering::Relaxed);
                match i {
                    5 => Err(Error::Internal("task 5".into())),
                    // The tasks after it take a while: a thread descheduled between taking task 5 and running it
                    // (threads outnumbering cores, as under an emulator) must not see the others run every task
                    // meanwhile, or nothing would be left to stop.
                    6.. => {
                        std::thread::sleep(Duration::from_micros(100));
                        Ok(())
                    }
                    _ => Ok(()),
                }
            });
            assert!(matches!(r, Err(Error::Internal(ref m)) if m == "task 5"), "{r:?}");
            assert!(ran.into_inner() < 2_000);
        }
    }

    /// Callers on several threads at once (one gets the helpers, the others run alone), and a task that runs
    /// tasks itself: every task still runs exactly once.
    #[test]
    fn concurrent_and_nested_callers() {
        std::thread::scope(|sc| {
            for _ in 0..4 {
                sc.spawn(|| {
                    for _ in 0..50 {
                        let outer: Vec<AtomicUsize> = (0..8).map(|_| AtomicUsize::new(0)).collect();
                        run_tasks(8, 2, |i| {
                            assert!(counts(5, 2).iter().all(|&c| c == 1));
                            outer[i].fetch_add(1, Ordering::Relaxed);
                            Ok(())
                        })
                        .unwrap();
                        assert!(outer.iter().all(|c| c.load(Ordering::Relaxed) == 1));
                    }
                });
            }
        });
    }

    /// A panicking task reaches the caller (as the panic, or as an error when a helper ran it) and leaves the
    /// team usable.
    #[test]
    fn panics_reach_the_caller() {
        for _ in 0..20 {
            let r = catch_unwind(AssertUnwindSafe(|| {
                run_tasks(64, 2, |i| {
                    assert!(i != 40, "task 40");
                    Ok(())
                })
            }));
            assert!(matches!(r, Err(_) | Ok(Err(Error::Internal(_)))), "{r:?}");
        }
        assert!(counts(100, 2).iter().all(|&c| c == 1));
    }

    /// Spin times set at run time apply from the helpers' next wait: with none, every threaded call takes the
    /// wake path; every task still runs exactly once. The setting is restored before returning.
    #[test]
    fn spin_time_can_be_set() {
        set_spin_time(Duration::ZERO);
        assert_eq!(spin_time(), Duration::ZERO);
        for n in [1, 7, 64] {
            assert!(counts(n, 3).iter().all(|&c| c == 1));
            std::thread::sleep(Duration::from_micros(200));
        }
        set_spin_time(Duration::from_micros(1500));
        assert_eq!(spin_time(), Duration::from_micros(1500));
        assert!(counts(64, 2).iter().all(|&c| c == 1));
        SPIN_SET_US.store(u64::MAX, Ordering::Relaxed);
        assert_ne!(spin_time(), Duration::from_micros(1500));
    }

    /// Helpers that went to sleep between calls wake for the next one.
    #[test]
    fn helpers_wake_after_sleeping() {
        assert!(counts(16, 3).iter().all(|&c| c == 1));
        std::thread::sleep(spin_time() * 4 + Duration::from_millis(1));
        let hits: Vec<AtomicUsize> = (0..16).map(|_| AtomicUsize::new(0)).collect();
        run_tasks(16, 3, |i| {
            std::thread::sleep(Duration::from_millis(2));
            hits[i].fetch_add(1, Ordering::Relaxed);
            Ok(())
        })
        .unwrap();
        assert!(hits.iter().all(|c| c.load(Ordering::Relaxed) == 1));
    }
}

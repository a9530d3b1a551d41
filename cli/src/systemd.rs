//! Telling systemd how the service is (`sd_notify`): ready, stopping, alive (the watchdog).

use std::time::{Duration, Instant};

use hsys::Server;
use hsys::systemd::{Notifier, watchdog_timeout};

/// The notification socket (`NOTIFY_SOCKET`) and the watchdog's pace (`WATCHDOG_USEC`); does
/// nothing when systemd asked for neither.
pub struct Service {
    notifier: Option<Notifier>,
    /// Half the watchdog timeout, and when `WATCHDOG=1` is next owed.
    watchdog: Option<(Duration, Instant)>,
}

impl Service {
    /// From the environment; a `NOTIFY_SOCKET` that cannot be used is reported and ignored.
    pub fn from_env() -> Service {
        let notifier = Notifier::from_env().unwrap_or_else(|e| {
            eprintln!("hsys: NOTIFY_SOCKET: {e}");
            None
        });
        let watchdog = notifier.as_ref().and(watchdog_timeout()).map(|t| (t / 2, Instant::now()));
        Service { notifier, watchdog }
    }

    /// Sends `state`; a failure is reported (systemd gone, say) and otherwise ignored.
    pub fn notify(&self, state: &str) {
        if let Some(n) = &self.notifier
            && let Err(e) = n.notify(state)
        {
            eprintln!("hsys: sd_notify: {e}");
        }
    }

    /// What to say once every I/O thread has started: `READY=1`, with a one-line `STATUS=`
    /// (sent with [`notify`](Service::notify), or by the old process of a restart).
    pub fn ready_state(&self, prefixes: usize, server: &Server, inherited: usize) -> String {
        let addrs = server.local_addrs().len();
        let from = if inherited > 0 { format!(" ({inherited} from the socket unit)") } else { String::new() };
        format!("READY=1\nSTATUS=serving {prefixes} prefixes on {addrs} addresses{from}")
    }

    /// This process was started by a restart: the old one tells systemd it is the main
    /// process now, so the first `WATCHDOG=1` waits its turn (from a process that is not
    /// the main one yet, systemd would refuse it).
    pub fn handed_over(&mut self) {
        if let Some((pace, _)) = self.watchdog {
            self.watchdog = Some((pace, Instant::now() + pace));
        }
    }

    /// A restart's new process `pid` serves (its `state` line): it is the service's main
    /// process from now on (`MAINPID=`).
    pub fn main_pid(&self, pid: u32, state: &str) {
        self.notify(&format!("MAINPID={pid}\n{state}"));
    }

    /// A graceful stop begins.
    pub fn stopping(&self) {
        self.notify("STOPPING=1\nSTATUS=stopping gracefully");
    }

    /// When the main loop must next wake for the watchdog, if there is one.
    pub fn watchdog_due(&self) -> Option<Instant> {
        self.watchdog.map(|(_, due)| due)
    }

    /// Sends `WATCHDOG=1` if it is due and `server` is sound (no I/O thread has died: then it
    /// is withheld, and systemd restarts the service).
    pub fn watchdog(&mut self, now: Instant, server: &Server) {
        let Some((pace, due)) = self.watchdog else { return };
        if now < due {
            return;
        }
        self.watchdog = Some((pace, now + pace));
        if server.stats().io_threads_died == 0 {
            self.notify("WATCHDOG=1");
        }
    }
}

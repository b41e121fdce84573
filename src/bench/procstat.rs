//! A server process seen from outside, through Linux's /proc: the CPU time it
//! has used and the memory it holds. Works for any server, in any language,
//! without its cooperation.

use std::path::PathBuf;
use std::time::Duration;

/// Why a process could not be read.
#[derive(Debug, thiserror::Error)]
#[error("cannot read {path}: {reason} (--server-pid needs Linux /proc and a process this user may see)")]
pub struct ProcError {
    path: String,
    reason: String,
}

/// A process to watch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Process {
    pid: u32,
}

impl Process {
    /// The process `pid`, after checking that it can be read.
    pub fn open(pid: u32) -> Result<Self, ProcError> {
        let process = Process { pid };
        process.cpu_time()?;
        process.rss_bytes()?;
        Ok(process)
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// User plus system CPU time used so far by all its threads, live and exited.
    pub fn cpu_time(&self) -> Result<Duration, ProcError> {
        let path = self.path("stat");
        let text = read(&path)?;
        let ticks = parse_cpu_ticks(&text).ok_or_else(|| ProcError {
            path: path.display().to_string(),
            reason: "unexpected format".into(),
        })?;
        let per_second = clock_ticks_per_second();
        Ok(Duration::from_secs(ticks / per_second)
            + Duration::from_nanos((ticks % per_second) * 1_000_000_000 / per_second))
    }

    /// Its resident set size, in bytes.
    pub fn rss_bytes(&self) -> Result<u64, ProcError> {
        let path = self.path("status");
        let text = read(&path)?;
        parse_vm_rss(&text).ok_or_else(|| ProcError {
            path: path.display().to_string(),
            reason: "no VmRSS line".into(),
        })
    }

    /// How many file descriptors it has open, when this user may list them.
    pub fn open_files(&self) -> Option<usize> {
        std::fs::read_dir(self.path("fd")).ok().map(Iterator::count)
    }

    fn path(&self, file: &str) -> PathBuf {
        PathBuf::from(format!("/proc/{}/{file}", self.pid))
    }
}

fn read(path: &std::path::Path) -> Result<String, ProcError> {
    std::fs::read_to_string(path).map_err(|e| ProcError {
        path: path.display().to_string(),
        reason: e.to_string(),
    })
}

/// utime + stime, in clock ticks, from the text of /proc/PID/stat.
fn parse_cpu_ticks(stat: &str) -> Option<u64> {
    // The command name (field 2) is in parentheses and may hold spaces or
    // parentheses of its own: the fields that follow start after the LAST ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    // rest starts at field 3 (state); utime and stime are fields 14 and 15.
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// VmRSS in bytes, from the text of /proc/PID/status (which gives kB).
fn parse_vm_rss(status: &str) -> Option<u64> {
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    let kib: u64 = line["VmRSS:".len()..].split_whitespace().next()?.parse().ok()?;
    Some(kib * 1024)
}

/// The unit of /proc's CPU times.
fn clock_ticks_per_second() -> u64 {
    #[cfg(unix)]
    {
        // SAFETY: sysconf only reads a configuration value.
        let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
        if ticks > 0 {
            return ticks as u64;
        }
    }
    // USER_HZ is 100 on every Linux architecture in practice.
    100
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_even_with_odd_command_names() {
        let stat = "4242 (we (ird) name) S 1 4242 4242 0 -1 4194560 900 0 0 0 37 12 0 0 20 0 5 0 \
                    123 45678 901 18446744073709551615";
        assert_eq!(parse_cpu_ticks(stat), Some(49));
        assert_eq!(parse_cpu_ticks("garbage"), None);
    }

    #[test]
    fn parses_vm_rss() {
        let status = "Name:\tpoetry\nVmPeak:\t  9000 kB\nVmRSS:\t    5120 kB\nThreads:\t3\n";
        assert_eq!(parse_vm_rss(status), Some(5120 * 1024));
        assert_eq!(parse_vm_rss("Name:\tx\n"), None);
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn reads_this_process() {
        let me = Process::open(std::process::id()).unwrap();
        assert!(me.rss_bytes().unwrap() > 0);
        assert!(me.open_files().unwrap() > 0);
        let spin = std::time::Instant::now();
        while me.cpu_time().unwrap() == Duration::ZERO && spin.elapsed() < Duration::from_secs(5) {}
        assert!(me.cpu_time().unwrap() > Duration::ZERO);
    }
}

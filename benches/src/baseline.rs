//! The limits every figure is divided by, measured in the same run:
//! the disk's synced sequential bandwidth (`dd bs=1M conv=fdatasync`), the
//! disk's fdatasync rate for 4 KiB appends, and memcpy bandwidth.

use std::fs::OpenOptions;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// Synced sequential write bandwidth as `dd` reports it.
#[derive(Debug, Clone, Copy)]
pub struct DiskBandwidth {
    pub bytes: u64,
    pub seconds: f64,
}

impl DiskBandwidth {
    pub fn bytes_per_second(&self) -> f64 {
        self.bytes as f64 / self.seconds
    }
}

/// Run `dd if=/dev/zero of=<dir>/dd.tmp bs=1M count=<mebibytes> conv=fdatasync`
/// and take the seconds dd itself reports (wall time if it cannot be parsed).
pub fn dd_bandwidth(dir: &Path, mebibytes: u64) -> io::Result<DiskBandwidth> {
    let path = dir.join("dd.tmp");
    let started = Instant::now();
    let output = Command::new("dd")
        .arg("if=/dev/zero")
        .arg(format!("of={}", path.display()))
        .arg("bs=1M")
        .arg(format!("count={mebibytes}"))
        .arg("conv=fdatasync")
        .output()?;
    let wall = started.elapsed().as_secs_f64();
    std::fs::remove_file(&path)?;
    if !output.status.success() {
        return Err(io::Error::other(format!(
            "dd failed: {}",
            String::from_utf8_lossy(&output.stderr)
        )));
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let seconds = parse_dd_seconds(&stderr).unwrap_or(wall);
    Ok(DiskBandwidth {
        bytes: mebibytes * 1024 * 1024,
        seconds,
    })
}

/// dd's summary line: `N bytes (..) copied, 2.03 s, 264 MB/s`.
fn parse_dd_seconds(stderr: &str) -> Option<f64> {
    let line = stderr.lines().rev().find(|l| l.contains("copied"))?;
    line.split(", ")
        .find_map(|part| part.strip_suffix(" s").and_then(|s| s.trim().parse::<f64>().ok()))
}

/// How many 4 KiB append + fdatasync rounds the disk completes per second
/// (each append extends the file, as a log append does).
#[derive(Debug, Clone, Copy)]
pub struct FsyncRate {
    pub count: u64,
    pub seconds: f64,
}

impl FsyncRate {
    pub fn per_second(&self) -> f64 {
        self.count as f64 / self.seconds
    }
}

pub fn fdatasync_rate(dir: &Path, duration: Duration, count_max: u64) -> io::Result<FsyncRate> {
    let path = dir.join("fsync.tmp");
    let file = OpenOptions::new()
        .create(true)
        .truncate(true)
        .read(true)
        .write(true)
        .open(&path)?;
    let block = [0xA5u8; 4096];
    let started = Instant::now();
    let mut count = 0u64;
    let mut position = 0u64;
    while count < count_max && started.elapsed() < duration {
        file.write_all_at(&block, position)?;
        file.sync_data()?;
        position += block.len() as u64;
        count += 1;
    }
    let seconds = started.elapsed().as_secs_f64();
    drop(file);
    std::fs::remove_file(&path)?;
    Ok(FsyncRate { count, seconds })
}

/// The same loop overwriting 4 KiB blocks of a file that was written and
/// fdatasync'd beforehand (as a preallocated or recycled log would): no size
/// or extent change, so on ext4 fdatasync needs no journal commit.
pub fn fdatasync_overwrite_rate(dir: &Path, duration: Duration, count_max: u64) -> io::Result<FsyncRate> {
    const FILE_BYTES: u64 = 16 * 1024 * 1024;
    let path = dir.join("fsync-overwrite.tmp");
    let file = OpenOptions::new()
        .create(true)
        .truncate(true)
        .read(true)
        .write(true)
        .open(&path)?;
    let chunk = vec![0u8; 1024 * 1024];
    let mut position = 0u64;
    while position < FILE_BYTES {
        file.write_all_at(&chunk, position)?;
        position += chunk.len() as u64;
    }
    file.sync_all()?;
    let block = [0xA5u8; 4096];
    let started = Instant::now();
    let mut count = 0u64;
    let mut position = 0u64;
    while count < count_max && started.elapsed() < duration {
        file.write_all_at(&block, position)?;
        file.sync_data()?;
        position = (position + block.len() as u64) % FILE_BYTES;
        count += 1;
    }
    let seconds = started.elapsed().as_secs_f64();
    drop(file);
    std::fs::remove_file(&path)?;
    Ok(FsyncRate { count, seconds })
}

/// memcpy bandwidth (bytes copied per second) between two buffers of
/// `bytes` each, far larger than the CPU caches.
pub fn memcpy_bandwidth(bytes: usize, rounds: u32) -> f64 {
    let source = vec![0x5Au8; bytes];
    let mut destination = vec![0u8; bytes];
    // Fault the destination in before timing.
    destination.copy_from_slice(&source);
    let started = Instant::now();
    for _ in 0..rounds {
        destination.copy_from_slice(std::hint::black_box(&source));
        std::hint::black_box(&mut destination);
    }
    let seconds = started.elapsed().as_secs_f64();
    (bytes as f64 * f64::from(rounds)) / seconds
}

/// One line describing the machine: CPU model, cores, memory, kernel, and the
/// file system holding `dir`.
pub fn machine_description(dir: &Path) -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let memory_gib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kib| kib.parse::<f64>().ok())
        })
        .map_or(0.0, |kib| kib / 1024.0 / 1024.0);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    let fs = Command::new("df")
        .arg("--output=source,fstype")
        .arg(dir)
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|t| {
            t.lines()
                .nth(1)
                .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        })
        .unwrap_or_default();
    format!("{cpu}, {cores} cores, {memory_gib:.0} GiB RAM, Linux {kernel}, data on {fs}")
}

/// The 1-minute load average (other work sharing the machine).
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|t| t.split_whitespace().next().map(str::to_string))
        .unwrap_or_default()
}

/// Today's date in UTC as `YYYY-MM-DD` (days since the epoch to a civil
/// date: Howard Hinnant's `civil_from_days`).
pub fn utc_date() -> String {
    let seconds = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let days = (seconds / 86_400) as i64 + 719_468;
    let era = days.div_euclid(146_097);
    let day_of_era = days.rem_euclid(146_097);
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

#[cfg(test)]
mod tests {
    #[test]
    fn parses_dd_summary() {
        let text =
            "512+0 records in\n512+0 records out\n536870912 bytes (537 MB, 512 MiB) copied, 2.0346 s, 264 MB/s\n";
        assert_eq!(super::parse_dd_seconds(text), Some(2.0346));
    }
}

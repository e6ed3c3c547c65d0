//! Load and what it costs: `oha` runs from the client pod (a fixed 1,000 req/s with
//! latency correction, then as fast as it goes), and each proxy's CPU time and RSS
//! read from `/proc` around and during the fixed-rate run.

use std::collections::BTreeMap;
use std::fs;
use std::path::PathBuf;
use std::thread::sleep;
use std::time::Duration;

use serde::Serialize;

use crate::net::{Netns, Process, path_str};

/// How hard and how long to push, the same for every path.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct LoadSettings {
    pub(crate) rate: u32,
    pub(crate) connections: u32,
    pub(crate) body_bytes: usize,
    #[serde(serialize_with = "secs")]
    pub(crate) warmup: Duration,
    #[serde(serialize_with = "secs")]
    pub(crate) latency: Duration,
    #[serde(serialize_with = "secs")]
    pub(crate) throughput: Duration,
}

/// The tools a load run needs: oha, its request body, where its reports go.
#[derive(Debug)]
pub(crate) struct LoadGenerator {
    pub(crate) oha: PathBuf,
    pub(crate) body: PathBuf,
    pub(crate) dir: PathBuf,
    /// `getconf CLK_TCK`: the unit of `/proc/PID/stat`'s utime and stime.
    pub(crate) clock_ticks: u64,
}

/// One oha run's summary; latencies in milliseconds.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct OhaSummary {
    pub(crate) requests: u64,
    /// Connection errors and non-200 answers.
    pub(crate) errors: u64,
    pub(crate) errors_seen: BTreeMap<String, u64>,
    pub(crate) req_per_sec: f64,
    pub(crate) p50_ms: f64,
    pub(crate) p90_ms: f64,
    pub(crate) p99_ms: f64,
    pub(crate) p999_ms: f64,
}

/// What one proxy process cost during the fixed-rate run.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct ProcessCost {
    pub(crate) name: String,
    pub(crate) pid: u32,
    pub(crate) cpu_ms: f64,
    pub(crate) rss_max_mib: f64,
}

/// A path measured: latency at the fixed rate, then the maximum rate.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct PathFigures {
    pub(crate) fixed_rate: OhaSummary,
    pub(crate) max_rate: OhaSummary,
    pub(crate) proxies: Vec<ProcessCost>,
    /// All proxies' CPU time per 1,000 requests at the fixed rate.
    pub(crate) cpu_ms_per_1k: Option<f64>,
    /// The same at the maximum rate (where batching makes it cheaper).
    pub(crate) cpu_ms_per_1k_max_rate: Option<f64>,
    /// The largest RSS of any proxy on the path during the fixed-rate run.
    pub(crate) rss_max_mib: Option<f64>,
}

#[derive(Debug, Clone, Copy)]
enum Rate {
    Fixed,
    Max,
}

impl LoadGenerator {
    /// Warms the path up, then measures it; `proxies` are the sidecars on it.
    pub(crate) fn measure(
        &self,
        client: &Netns,
        url: &str,
        settings: &LoadSettings,
        proxies: &mut [&mut Process],
    ) -> Result<PathFigures, String> {
        self.oha(client, url, settings, Rate::Fixed, settings.warmup, &mut [])?;
        let before = self.cpu_ms(proxies)?;
        let (fixed_rate, rss) = self.oha(
            client,
            url,
            settings,
            Rate::Fixed,
            settings.latency,
            proxies,
        )?;
        let after = self.cpu_ms(proxies)?;
        let (max_rate, _) = self.oha(
            client,
            url,
            settings,
            Rate::Max,
            settings.throughput,
            &mut [],
        )?;
        let after_max = self.cpu_ms(proxies)?;

        let costs: Vec<ProcessCost> = proxies
            .iter()
            .enumerate()
            .map(|(i, p)| ProcessCost {
                name: p.name().to_string(),
                pid: p.pid(),
                cpu_ms: after[i] - before[i],
                rss_max_mib: rss[i] as f64 / 1024.0,
            })
            .collect();
        let per_1k = |cpu: f64, requests: u64| {
            (!proxies.is_empty() && requests > 0).then(|| cpu * 1000.0 / requests as f64)
        };
        let cpu: f64 = costs.iter().map(|c| c.cpu_ms).sum();
        let cpu_max: f64 = (0..proxies.len()).map(|i| after_max[i] - after[i]).sum();
        Ok(PathFigures {
            cpu_ms_per_1k: per_1k(cpu, fixed_rate.requests),
            cpu_ms_per_1k_max_rate: per_1k(cpu_max, max_rate.requests),
            rss_max_mib: costs.iter().map(|c| c.rss_max_mib).reduce(f64::max),
            proxies: costs,
            fixed_rate,
            max_rate,
        })
    }

    /// Runs oha from the client pod; while it runs, samples the RSS of `sampled`
    /// (KiB, the maximum seen per process).
    fn oha(
        &self,
        client: &Netns,
        url: &str,
        settings: &LoadSettings,
        rate: Rate,
        duration: Duration,
        sampled: &mut [&mut Process],
    ) -> Result<(OhaSummary, Vec<u64>), String> {
        let report = self.dir.join("oha.json");
        let _ = fs::remove_file(&report);
        let duration = format!("{}ms", duration.as_millis());
        let connections = settings.connections.to_string();
        let qps = settings.rate.to_string();
        let mut argv = vec![
            path_str(&self.oha)?,
            url,
            "--no-tui",
            "--output-format",
            "json",
            "-o",
            path_str(&report)?,
            "-c",
            &connections,
            "-z",
            &duration,
            // Requests in flight at the deadline finish instead of counting as errors.
            "-w",
            "-m",
            "POST",
            "-D",
            path_str(&self.body)?,
            "-T",
            "application/octet-stream",
        ];
        if let Rate::Fixed = rate {
            argv.extend(["-q", &qps, "--latency-correction"]);
        }
        let log = self.dir.join("oha.log");
        let mut oha = client.spawn("oha", &argv, false, &[], &log)?;
        let mut rss = vec![0; sampled.len()];
        let status = loop {
            if let Some(status) = oha.exited()? {
                break status;
            }
            for (max, process) in rss.iter_mut().zip(sampled.iter_mut()) {
                process.check_running()?;
                *max = (*max).max(rss_kib(process.pid())?);
            }
            sleep(Duration::from_millis(250));
        };
        if !status.success() {
            return Err(format!("oha failed ({status}):\n{}", oha.log_tail(20)));
        }
        let text = fs::read_to_string(&report)
            .map_err(|e| format!("oha wrote no report ({}): {e}", report.display()))?;
        Ok((parse_oha(&text)?, rss))
    }

    /// utime + stime of each process, in milliseconds.
    fn cpu_ms(&self, processes: &mut [&mut Process]) -> Result<Vec<f64>, String> {
        processes
            .iter_mut()
            .map(|p| {
                p.check_running()?;
                let ticks = cpu_ticks(p.pid())?;
                Ok(ticks as f64 * 1000.0 / self.clock_ticks as f64)
            })
            .collect()
    }
}

/// Reads oha's `--output-format json` report (times in seconds).
fn parse_oha(text: &str) -> Result<OhaSummary, String> {
    let json: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("oha's report is not JSON: {e}"))?;
    let percentile = |key: &str| {
        json["latencyPercentiles"][key]
            .as_f64()
            .map(|s| s * 1000.0)
            .ok_or_else(|| format!("oha's report has no latencyPercentiles.{key}"))
    };
    let counts = |key: &str| -> BTreeMap<String, u64> {
        json[key]
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.clone(), v.as_u64().unwrap_or(0)))
                    .collect()
            })
            .unwrap_or_default()
    };
    let statuses = counts("statusCodeDistribution");
    let mut errors_seen = counts("errorDistribution");
    for (status, n) in &statuses {
        if status != "200" {
            errors_seen.insert(format!("HTTP {status}"), *n);
        }
    }
    let answered: u64 = statuses.values().sum();
    Ok(OhaSummary {
        requests: answered,
        errors: errors_seen.values().sum(),
        errors_seen,
        req_per_sec: json["summary"]["requestsPerSec"].as_f64().unwrap_or(0.0),
        p50_ms: percentile("p50")?,
        p90_ms: percentile("p90")?,
        p99_ms: percentile("p99")?,
        p999_ms: percentile("p99.9")?,
    })
}

/// utime + stime (fields 14 and 15 of `/proc/PID/stat`), in clock ticks.
fn cpu_ticks(pid: u32) -> Result<u64, String> {
    let path = format!("/proc/{pid}/stat");
    let text = fs::read_to_string(&path).map_err(|e| format!("read {path}: {e}"))?;
    // The command name (field 2) may hold spaces: count fields after its `)`.
    let rest = text.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |i: usize| -> Result<u64, String> {
        fields
            .get(i)
            .and_then(|f| f.parse().ok())
            .ok_or_else(|| format!("{path} has no field {}", i + 3))
    };
    Ok(field(11)? + field(12)?)
}

/// VmRSS from `/proc/PID/status`, in KiB.
fn rss_kib(pid: u32) -> Result<u64, String> {
    let path = format!("/proc/{pid}/status");
    let text = fs::read_to_string(&path).map_err(|e| format!("read {path}: {e}"))?;
    text.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .ok_or_else(|| format!("{path} has no VmRSS"))
}

/// `getconf CLK_TCK`, 100 (Linux's USER_HZ nearly everywhere) if it cannot be read.
pub(crate) fn clock_ticks() -> u64 {
    crate::net::run("getconf", &["CLK_TCK"])
        .ok()
        .and_then(|t| t.trim().parse().ok())
        .filter(|t| *t > 0)
        .unwrap_or(100)
}

fn secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

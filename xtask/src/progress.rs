//! One line per step, with timings, so that a CI log reads as a list of what ran.

use std::fmt::Display;
use std::time::{Duration, Instant};

/// A step in progress: announced when started, timed when finished.
#[derive(Debug)]
pub(crate) struct Step {
    name: String,
    started: Instant,
}

impl Step {
    pub(crate) fn start(name: impl Display) -> Self {
        let name = name.to_string();
        println!("==> {name}");
        Self {
            name,
            started: Instant::now(),
        }
    }

    pub(crate) fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Prints the step's outcome and passes `result` through.
    pub(crate) fn finish<T>(self, result: anyhow::Result<T>) -> anyhow::Result<T> {
        let took = format_duration(self.elapsed());
        match &result {
            Ok(_) => println!("    {} ok ({took})", self.name),
            Err(_) => println!("    {} FAILED ({took})", self.name),
        }
        result
    }
}

/// `1.2s` under a minute, `3m04s` above.
pub(crate) fn format_duration(d: Duration) -> String {
    let secs = d.as_secs_f64();
    if secs < 60.0 {
        format!("{secs:.1}s")
    } else {
        let whole = d.as_secs();
        format!("{}m{:02}s", whole / 60, whole % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_seconds_then_minutes() {
        assert_eq!(format_duration(Duration::from_millis(1234)), "1.2s");
        assert_eq!(format_duration(Duration::from_secs(184)), "3m04s");
    }
}

//! Removing what an earlier run left behind when it could not clean up (killed, or
//! aborted before its drops ran): namespaces, `/etc/netns` directories and work
//! directories named `meshlc-<pid>-…` whose process is gone.

use std::fs;
use std::path::Path;

use super::netns;

/// Prefix of everything a LocalCluster creates.
pub(super) const PREFIX: &str = "meshlc-";

/// Removes every `meshlc-<pid>-…` namespace, `/etc/netns` directory and temporary
/// directory whose `<pid>` is no longer running.
pub(super) fn sweep_stale() {
    if let Ok(names) = netns::list() {
        for name in names.iter().filter(|n| is_stale(n)) {
            eprintln!("LocalCluster: removing stale network namespace {name}");
            netns::delete(name);
        }
    }
    for dir in [netns::etc_dir(""), std::env::temp_dir()] {
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if is_stale(&name) {
                let _ = fs::remove_dir_all(entry.path());
            }
        }
    }
}

/// Whether `name` is ours and its creating process is gone.
fn is_stale(name: &str) -> bool {
    owner_pid(name).is_some_and(|pid| !Path::new(&format!("/proc/{pid}")).exists())
}

/// `<pid>` of `meshlc-<pid>-…`.
pub(super) fn owner_pid(name: &str) -> Option<u32> {
    name.strip_prefix(PREFIX)?.split('-').next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_pid_is_read_from_our_names_only() {
        assert_eq!(owner_pid("meshlc-4242-0-br"), Some(4242));
        assert_eq!(owner_pid("meshlc-4242-1-web-v1.demo"), Some(4242));
        assert_eq!(owner_pid("mesh-e2e-4242"), None);
        assert_eq!(owner_pid("meshlc-x-0"), None);
        assert!(!is_stale(&format!("meshlc-{}-0-br", std::process::id())));
    }
}

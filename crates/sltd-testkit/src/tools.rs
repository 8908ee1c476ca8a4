//! System programs some tests drive (HAProxy, nginx, Prometheus, Chromium,
//! systemd-analyze): found on `PATH`, or the test says loudly that it did
//! not run. Under CI (the `CI` environment variable set, as `.ci/run` does)
//! a missing program fails the test instead: CI installs them all.

use std::io::Write;
use std::path::Path;

/// Whether every program of `programs` is on `PATH`. When one is not,
/// says so past the test harness's capture and returns false, or panics
/// under CI. `package` names the Debian packages to install.
#[track_caller]
pub fn present(programs: &[&str], package: &str) -> bool {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let found = |name: &str| std::env::split_paths(&path).any(|dir| is_executable(&dir.join(name)));
    let missing: Vec<&str> = programs.iter().copied().filter(|p| !found(p)).collect();
    if missing.is_empty() {
        return true;
    }
    let msg = format!(
        "\n\n!!!!!!!! {} NOT INSTALLED: this test DID NOT RUN !!!!!!!!\n\
         !!!!!!!! install it (Debian: apt-get install {package}) !!!!!!!!\n",
        missing.join(", ")
    );
    assert!(std::env::var_os("CI").is_none(), "{msg}");
    let _ = std::io::stderr().write_all(msg.as_bytes());
    false
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_program_on_path_is_found() {
        assert!(present(&["sh"], "dash"));
        assert!(!is_executable(Path::new("/nonexistent/sh")));
    }
}

//! The systemd units in `deploy/` pass `systemd-analyze verify` with
//! nothing to say. The units name the programs where the install notes put
//! them (`/usr/local/bin`); the copies verified here name this build's
//! programs instead, and are otherwise the shipped files byte for byte.

use std::path::Path;
use std::process::Command;

use sltd_testkit::tools;

use crate::common::programs;

#[test]
fn the_units_verify_clean() {
    if !tools::present(&["systemd-analyze"], "systemd") {
        return;
    }
    let p = programs();
    let bin = p.sltdd.path().parent().unwrap();
    assert_eq!(p.sync.path().parent(), Some(bin));
    let deploy = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy");
    let dir = tempfile::tempdir().unwrap();
    let units = ["sltdd.service", "sltd-sync.service", "sltd-sync.timer"];
    for unit in units {
        let text = std::fs::read_to_string(deploy.join(unit)).unwrap();
        let here = text.replace("/usr/local/bin/", &format!("{}/", bin.display()));
        if unit.ends_with(".service") {
            assert_ne!(here, text, "{unit} names no program in /usr/local/bin");
        }
        std::fs::write(dir.path().join(unit), here).unwrap();
    }
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .args(units.iter().map(|u| dir.path().join(u)))
        .output()
        .expect("systemd-analyze runs (Debian package `systemd`)");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && said.trim().is_empty(),
        "systemd-analyze verify: {}\n{said}",
        out.status
    );
}

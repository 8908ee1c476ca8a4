//! `sltdd` as a process: both listeners on 127.0.0.1 port 0, the addresses
//! read from the daemon's "listening" log line, and readiness from its
//! health check (`/readyz`), never from a fixed sleep.

use std::net::SocketAddr;

use crate::http;
use crate::process::{Program, Spawned, Stream};
use crate::wait;

/// A running `sltdd`, killed when dropped.
#[derive(Debug)]
pub struct Sltdd {
    process: Spawned,
    grpc: SocketAddr,
    admin: SocketAddr,
}

impl Sltdd {
    /// Starts `program` with `args` (the data source and any other flag but
    /// the listeners and the log format) and waits until it listens. The
    /// data set may still be loading; see [`Sltdd::wait_ready`].
    #[track_caller]
    pub fn start(program: &Program, args: &[&str]) -> Self {
        let mut all = vec![
            "--listen",
            "127.0.0.1:0",
            "--admin-listen",
            "127.0.0.1:0",
            "--log-format",
            "json",
        ];
        all.extend_from_slice(args);
        let process = program.spawn(&all);
        let (grpc, admin) = process.wait_for_line(
            Stream::Stderr,
            crate::READY_TIMEOUT,
            "the sltdd listening line",
            |line| {
                let v: serde_json::Value = serde_json::from_str(line).ok()?;
                if !v["message"].as_str()?.starts_with("listening") {
                    return None;
                }
                Some((
                    v["grpc"].as_str()?.parse().ok()?,
                    v["admin"].as_str()?.parse().ok()?,
                ))
            },
        );
        Self {
            process,
            grpc,
            admin,
        }
    }

    /// As [`Sltdd::start`], then waits until it is ready.
    #[track_caller]
    pub fn start_ready(program: &Program, args: &[&str]) -> Self {
        let d = Self::start(program, args);
        d.wait_ready();
        d
    }

    /// Waits until `/readyz` answers 200: the data set is loaded and
    /// verified.
    #[track_caller]
    pub fn wait_ready(&self) {
        wait::until(crate::READY_TIMEOUT, "sltdd to be ready", || {
            let ready = matches!(http::get(self.admin, "/readyz"), Ok((200, _)));
            ready.then_some(())
        });
    }

    pub fn grpc(&self) -> SocketAddr {
        self.grpc
    }

    pub fn admin(&self) -> SocketAddr {
        self.admin
    }

    /// The gRPC address as `sltd check --server` takes it.
    pub fn url(&self) -> String {
        format!("http://{}", self.grpc)
    }

    /// The Prometheus metrics text.
    #[track_caller]
    pub fn metrics(&self) -> String {
        match http::get(self.admin, "/metrics") {
            Ok((200, body)) => body,
            other => panic!("GET /metrics: {other:?}\n{}", self.process.output()),
        }
    }

    pub fn process(&self) -> &Spawned {
        &self.process
    }

    pub fn process_mut(&mut self) -> &mut Spawned {
        &mut self.process
    }
}

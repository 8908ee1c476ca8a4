//! Free TCP ports on 127.0.0.1, for programs that cannot listen on port 0
//! and say where they are (HAProxy, nginx, Prometheus): the system picks
//! them, then they are released for the program to take. Another process
//! could take one in between; the test then fails on a bind error it
//! names, never silently.

use std::net::TcpListener;

/// `n` distinct ports that were free a moment ago.
pub fn free_ports(n: usize) -> Vec<u16> {
    // All held at once, so the system gives distinct ports.
    let held: Vec<TcpListener> = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0"))
        .collect();
    held.iter()
        .map(|l| l.local_addr().expect("a bound address").port())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_distinct_and_free() {
        let ports = free_ports(9);
        let mut unique = ports.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), 9);
        for p in ports {
            TcpListener::bind(("127.0.0.1", p)).expect("the port is free again");
        }
    }
}

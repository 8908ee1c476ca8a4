//! A bare HTTP/1.1 client for the daemon's admin listener (`/readyz`,
//! `/metrics`, `POST /reload`) and the feed server: one request per
//! connection, the whole answer read.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// How long a request may take before it fails.
const TIMEOUT: Duration = Duration::from_secs(60);

/// Sends `method path` to `addr`: (status code, body).
pub fn request(addr: SocketAddr, method: &str, path: &str) -> io::Result<(u16, String)> {
    let mut s = TcpStream::connect_timeout(&addr, TIMEOUT)?;
    s.set_read_timeout(Some(TIMEOUT))?;
    s.set_write_timeout(Some(TIMEOUT))?;
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
    );
    s.write_all(req.as_bytes())?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf)?;
    let text = String::from_utf8_lossy(&buf);
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, format!("not HTTP: {text:?}")))?;
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Ok((status, body))
}

/// `GET path`: (status code, body).
pub fn get(addr: SocketAddr, path: &str) -> io::Result<(u16, String)> {
    request(addr, "GET", path)
}

/// The sum of every sample of a Prometheus counter family in a `/metrics`
/// text (`name` or `name{labels}` at the start of a line).
pub fn metric_sum(metrics: &str, name: &str) -> f64 {
    metrics
        .lines()
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with(' ') || rest.starts_with('{'))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_sum_adds_every_labelled_sample_of_one_family() {
        let text = "# TYPE sltd_checks_total counter\n\
                    sltd_checks_total{rpc=\"Check\",verdict=\"HIT\"} 2\n\
                    sltd_checks_total{rpc=\"Check\",verdict=\"NO_HIT\"} 10\n\
                    sltd_checks_total_extra 100\n\
                    sltd_checks 1000\n";
        assert_eq!(metric_sum(text, "sltd_checks_total"), 12.0);
        assert_eq!(metric_sum(text, "sltd_checks"), 1000.0);
        assert_eq!(metric_sum(text, "absent"), 0.0);
    }
}

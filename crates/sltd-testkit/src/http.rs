//! A bare HTTP/1.1 client for the daemon's admin listener (`/readyz`,
//! `/metrics`, `POST /reload`) and the feed server: one request per
//! connection, the whole answer read.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// How long a request may take before it fails.
const TIMEOUT: Duration = Duration::from_secs(60);

/// An answer: status code, headers (names in lower case) and body.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Answer {
    /// The first value of header `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A `Transfer-Encoding: chunked` body, decoded.
fn dechunk(mut body: &str) -> io::Result<String> {
    let bad = || io::Error::new(io::ErrorKind::InvalidData, "bad chunked body");
    let mut out = String::new();
    loop {
        let (size, rest) = body.split_once("\r\n").ok_or_else(bad)?;
        let size = usize::from_str_radix(size.split(';').next().unwrap_or("").trim(), 16)
            .map_err(|_| bad())?;
        if size == 0 {
            return Ok(out);
        }
        out.push_str(rest.get(..size).ok_or_else(bad)?);
        body = rest.get(size + 2..).ok_or_else(bad)?;
    }
}

/// Sends `method path` with `headers` to `addr` and reads the whole answer
/// (the server closes the connection).
pub fn exchange(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> io::Result<Answer> {
    let mut s = TcpStream::connect_timeout(&addr, TIMEOUT)?;
    s.set_read_timeout(Some(TIMEOUT))?;
    s.set_write_timeout(Some(TIMEOUT))?;
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (name, value) in headers {
        req.push_str(&format!("{name}: {value}\r\n"));
    }
    req.push_str("Content-Length: 0\r\n\r\n");
    s.write_all(req.as_bytes())?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf)?;
    let text = String::from_utf8_lossy(&buf);
    let not_http = || io::Error::new(io::ErrorKind::InvalidData, format!("not HTTP: {text:?}"));
    let (head, body) = text.split_once("\r\n\r\n").ok_or_else(not_http)?;
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .ok_or_else(not_http)?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let mut answer = Answer {
        status,
        headers,
        body: body.to_string(),
    };
    if answer
        .header("transfer-encoding")
        .is_some_and(|t| t.eq_ignore_ascii_case("chunked"))
    {
        answer.body = dechunk(body)?;
    }
    Ok(answer)
}

/// Sends `method path` to `addr`: (status code, body).
pub fn request(addr: SocketAddr, method: &str, path: &str) -> io::Result<(u16, String)> {
    let a = exchange(addr, method, path, &[])?;
    Ok((a.status, a.body))
}

/// `s` percent-encoded for a URL's query (everything but the unreserved
/// characters of RFC 3986).
pub fn query_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
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
    fn chunked_bodies_are_decoded() {
        assert_eq!(
            dechunk("5\r\nhello\r\n1;x=y\r\n!\r\n0\r\n\r\n").unwrap(),
            "hello!"
        );
        assert!(dechunk("zz\r\n").is_err());
    }

    #[test]
    fn queries_are_percent_encoded() {
        assert_eq!(
            query_encode("sum(x{a=\"b\"}[1m]) > 0"),
            "sum%28x%7Ba%3D%22b%22%7D%5B1m%5D%29%20%3E%200"
        );
    }

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

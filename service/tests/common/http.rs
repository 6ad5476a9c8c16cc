//! A small HTTP/1.1 client for the tests over a real socket.
//!
//! Written here rather than taken from a crate because these tests need what a general client
//! hides on purpose: exactly how a request ended. A pooled client retries a request whose
//! keep-alive connection was closed and folds "refused", "closed before answering" and "broken
//! mid-answer" into one error; the shutdown test must tell them apart, and send a request's head
//! and body at moments of its choosing (`Expect: 100-continue`). It speaks just what the service
//! answers: keep-alive, `Content-Length` bodies, interim `100 Continue`.

use std::net::SocketAddr;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// How a request failed.
#[derive(Debug, PartialEq, Eq)]
pub enum Failure {
    /// `connect` was refused, or reset before it completed: nothing listens on the port (any
    /// more: a listener closed while the handshake was under way resets it).
    Refused,
    /// The connection ended (end of stream or reset) before a single byte of a response: the
    /// server never took the request in, e.g. an idle keep-alive connection it closed, or a
    /// connection the kernel queued that the server never accepted.
    ClosedBeforeResponse,
    /// Anything else: a response cut short, a malformed one, another I/O error.
    Broken(String),
}

/// A response.
#[derive(Debug)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Headers, names lower-cased, in order.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Response {
    /// The first header named `name` (lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON (`Null` when it is not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }

    /// Whether the server will close the connection after this response.
    pub fn closes(&self) -> bool {
        self.header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"))
    }
}

/// The bytes of a `POST` of JSON `body` to `path`, with an API key.
pub fn post_json(path: &str, key: &str, body: &str) -> Vec<u8> {
    format!(
        "POST {path} HTTP/1.1\r\nHost: civicast\r\nAuthorization: Bearer {key}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// The head of a `POST` of a JSON body of `length` bytes that waits for `100 Continue` before
/// sending the body (the server sends it when the handler starts reading the body).
pub fn post_json_head_expecting_continue(path: &str, key: &str, length: usize) -> Vec<u8> {
    format!(
        "POST {path} HTTP/1.1\r\nHost: civicast\r\nAuthorization: Bearer {key}\r\n\
         Content-Type: application/json\r\nContent-Length: {length}\r\n\
         Expect: 100-continue\r\n\r\n"
    )
    .into_bytes()
}

/// The bytes of a `GET` of `path`, optionally with an API key.
pub fn get(path: &str, key: Option<&str>) -> Vec<u8> {
    let auth = key.map_or_else(String::new, |k| format!("Authorization: Bearer {k}\r\n"));
    format!("GET {path} HTTP/1.1\r\nHost: civicast\r\n{auth}\r\n").into_bytes()
}

/// One keep-alive connection.
pub struct Connection {
    stream: BufReader<TcpStream>,
}

fn is_reset(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::{BrokenPipe, ConnectionAborted, ConnectionReset};
    matches!(e.kind(), ConnectionReset | ConnectionAborted | BrokenPipe)
}

impl Connection {
    /// Connects to `address`.
    pub async fn open(address: SocketAddr) -> Result<Self, Failure> {
        match TcpStream::connect(address).await {
            Ok(stream) => {
                stream
                    .set_nodelay(true)
                    .map_err(|e| Failure::Broken(e.to_string()))?;
                Ok(Connection {
                    stream: BufReader::new(stream),
                })
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::ConnectionRefused | std::io::ErrorKind::ConnectionReset
                ) =>
            {
                Err(Failure::Refused)
            }
            Err(e) => Err(Failure::Broken(format!("connect: {e}"))),
        }
    }

    /// Sends `bytes` (a request, or part of one).
    pub async fn write(&mut self, bytes: &[u8]) -> Result<(), Failure> {
        match self.stream.get_mut().write_all(bytes).await {
            Ok(()) => Ok(()),
            // Nothing of a response was read yet, so the server did not take the request in.
            Err(e) if is_reset(&e) => Err(Failure::ClosedBeforeResponse),
            Err(e) => Err(Failure::Broken(format!("write: {e}"))),
        }
    }

    /// Reads the next response, interim (1xx) ones included.
    pub async fn read_response(&mut self) -> Result<Response, Failure> {
        let mut line = Vec::new();
        match self.stream.read_until(b'\n', &mut line).await {
            Ok(0) => return Err(Failure::ClosedBeforeResponse),
            Ok(_) => {}
            Err(e) if is_reset(&e) && line.is_empty() => {
                return Err(Failure::ClosedBeforeResponse);
            }
            Err(e) => return Err(Failure::Broken(format!("reading the status line: {e}"))),
        }
        let status_line = String::from_utf8_lossy(&line).trim_end().to_owned();
        let status = status_line
            .strip_prefix("HTTP/1.1 ")
            .and_then(|rest| rest.get(..3))
            .and_then(|code| code.parse::<u16>().ok())
            .ok_or_else(|| Failure::Broken(format!("bad status line {status_line:?}")))?;
        let mut headers = Vec::new();
        loop {
            line.clear();
            let read = self
                .stream
                .read_until(b'\n', &mut line)
                .await
                .map_err(|e| Failure::Broken(format!("reading headers: {e}")))?;
            if read == 0 {
                return Err(Failure::Broken(format!(
                    "the connection closed inside the headers of a {status} response"
                )));
            }
            let text = String::from_utf8_lossy(&line);
            let text = text.trim_end();
            if text.is_empty() {
                break;
            }
            let (name, value) = text
                .split_once(':')
                .ok_or_else(|| Failure::Broken(format!("bad header line {text:?}")))?;
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
        }
        let mut response = Response {
            status,
            headers,
            body: Vec::new(),
        };
        if (100..200).contains(&status) {
            return Ok(response);
        }
        if response.header("transfer-encoding").is_some() {
            return Err(Failure::Broken(
                "a chunked response; this client reads Content-Length bodies only".into(),
            ));
        }
        let length: usize = response
            .header("content-length")
            .ok_or_else(|| Failure::Broken(format!("a {status} response without a length")))?
            .parse()
            .map_err(|_| Failure::Broken("a bad Content-Length".into()))?;
        response.body = vec![0; length];
        self.stream
            .read_exact(&mut response.body)
            .await
            .map_err(|e| Failure::Broken(format!("reading a {length}-byte body: {e}")))?;
        Ok(response)
    }

    /// Reads the next final (non-1xx) response.
    pub async fn read_final_response(&mut self) -> Result<Response, Failure> {
        loop {
            let response = self.read_response().await?;
            if response.status >= 200 {
                return Ok(response);
            }
        }
    }

    /// Sends a whole request and reads its final response.
    pub async fn request(&mut self, bytes: &[u8]) -> Result<Response, Failure> {
        self.write(bytes).await?;
        self.read_final_response().await
    }
}

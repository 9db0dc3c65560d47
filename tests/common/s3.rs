//! A real S3-compatible server for the object-storage tests: moto's server mode (PyPI package
//! `moto[server]`, which `.ci/run` installs), one per test on a port of 127.0.0.1 it picks; and a
//! proxy in front of it that refuses chosen writes, to fail a store in the middle of a publish.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStoreExt, PutPayload};

/// Credentials the tests give synthgate through the environment: unique strings that the log
/// scan looks for. moto accepts any.
pub const ACCESS_KEY_ID: &str = "AKIACANARY7Q4XW2ZP9L";
/// See [`ACCESS_KEY_ID`].
pub const SECRET_ACCESS_KEY: &str = "canarySecret/Vf8dKq2+Lm5Rt7Wz3Yx1Np4Hs6Jb0Gc";

fn moto_server() -> PathBuf {
    if let Some(path) = std::env::var_os("SYNTHGATE_MOTO_SERVER") {
        return PathBuf::from(path);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for folder in std::env::split_paths(&path) {
        if folder.join("moto_server").is_file() {
            return folder.join("moto_server");
        }
    }
    panic!(
        "no moto_server found: `python3 -m pip install 'moto[server]'` (.ci/run does) or set \
         SYNTHGATE_MOTO_SERVER"
    );
}

/// A moto server, stopped when dropped.
pub struct Moto {
    child: Child,
    /// its port on 127.0.0.1
    pub port: u16,
}

impl Moto {
    /// Starts a server on a port it picks itself (no race with other tests for a free port)
    /// and waits until it says where it listens.
    pub fn start() -> Self {
        let mut child = Command::new(moto_server())
            .args(["-H", "127.0.0.1", "-p", "0"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start moto_server");
        let stderr = child.stderr.take().unwrap();
        let (sender, receiver) = std::sync::mpsc::channel();
        // reads the banner, then drains the log so the server never blocks on a full pipe
        std::thread::spawn(move || {
            let mut sender = Some(sender);
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Some(rest) = line.split("Running on http://127.0.0.1:").nth(1)
                    && let Some(sender) = sender.take()
                {
                    let _ = sender.send(rest.trim().parse::<u16>().ok());
                }
            }
        });
        let port = match receiver.recv_timeout(Duration::from_secs(60)) {
            Ok(Some(port)) => port,
            other => {
                let _ = child.kill();
                panic!("moto_server did not say where it listens: {other:?}");
            }
        };
        let moto = Moto { child, port };
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "moto_server does not answer on {port}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        moto
    }

    /// `http://127.0.0.1:PORT`
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Creates a bucket (moto takes an unsigned request).
    pub fn create_bucket(&self, bucket: &str) {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        write!(
            stream,
            "PUT /{bucket} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            self.port
        )
        .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        assert!(
            response.starts_with("HTTP/1.1 200"),
            "create bucket: {response}"
        );
    }

    /// Puts an object anyone may read (the `public-read` canned ACL), for HTTP sources.
    pub fn put_public(&self, bucket: &str, key: &str, bytes: &[u8]) {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        write!(
            stream,
            "PUT /{bucket}/{key} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nx-amz-acl: public-read\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n",
            self.port,
            bytes.len()
        )
        .unwrap();
        stream.write_all(bytes).unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        assert!(
            response.starts_with("HTTP/1.1 200"),
            "put {key}: {response}"
        );
    }

    /// A client of `bucket` for the test's own reads and writes.
    pub fn client(&self, bucket: &str) -> AmazonS3 {
        AmazonS3Builder::new()
            .with_endpoint(self.endpoint())
            .with_allow_http(true)
            .with_region("us-east-1")
            .with_bucket_name(bucket)
            .with_access_key_id(ACCESS_KEY_ID)
            .with_secret_access_key(SECRET_ACCESS_KEY)
            .build()
            .unwrap()
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The environment that points synthgate at `endpoint` with the canary credentials.
pub fn environment(endpoint: &str) -> Vec<(&'static str, String)> {
    vec![
        ("AWS_ENDPOINT_URL", endpoint.to_owned()),
        ("AWS_ALLOW_HTTP", "true".to_owned()),
        ("AWS_REGION", "us-east-1".to_owned()),
        ("AWS_ACCESS_KEY_ID", ACCESS_KEY_ID.to_owned()),
        ("AWS_SECRET_ACCESS_KEY", SECRET_ACCESS_KEY.to_owned()),
    ]
}

/// Runs a future on a small runtime (the tests are synchronous).
pub fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(future)
}

/// Puts `bytes` at `key`.
pub fn put(client: &AmazonS3, key: &str, bytes: Vec<u8>) {
    block_on(client.put(&ObjectPath::from(key), PutPayload::from(bytes))).unwrap();
}

/// The object at `key`, or `None`.
pub fn get(client: &AmazonS3, key: &str) -> Option<Vec<u8>> {
    block_on(async {
        match client.get(&ObjectPath::from(key)).await {
            Ok(result) => Some(result.bytes().await.unwrap().to_vec()),
            Err(object_store::Error::NotFound { .. }) => None,
            Err(other) => panic!("get {key}: {other}"),
        }
    })
}

/// A proxy on 127.0.0.1 in front of `upstream` that answers 403 AccessDenied to every request
/// for which `refuse(method, path)` holds and forwards the rest, one request per connection.
pub struct RefusingProxy {
    /// its port
    pub port: u16,
}

impl RefusingProxy {
    /// Starts the proxy on a thread that lives as long as the test.
    pub fn start(upstream: u16, refuse: fn(&str, &str) -> bool) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let refuse = Arc::new(refuse);
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let refuse = refuse.clone();
                std::thread::spawn(move || {
                    let _ = forward(client, upstream, &refuse);
                });
            }
        });
        RefusingProxy { port }
    }

    /// `http://127.0.0.1:PORT`
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

fn forward(
    client: TcpStream,
    upstream: u16,
    refuse: &fn(&str, &str) -> bool,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(client.try_clone()?);
    let mut head = Vec::new();
    let mut content_length = 0usize;
    let mut request_line = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        if request_line.is_empty() {
            request_line = line.clone();
        }
        let lower = line.to_ascii_lowercase();
        if let Some(value) = lower.strip_prefix("content-length:") {
            content_length = value.trim().parse().unwrap_or(0);
        }
        if line == "\r\n" {
            break;
        }
        // one request per connection: the client must not reuse it
        if !lower.starts_with("connection:") {
            head.extend_from_slice(line.as_bytes());
        }
    }
    let mut body = vec![0; content_length];
    reader.read_exact(&mut body)?;
    let mut parts = request_line.split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let mut client = client;
    if refuse(method, path) {
        let body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>AccessDenied</Code>\
                    <Message>refused by the test proxy</Message></Error>";
        write!(
            client,
            "HTTP/1.1 403 Forbidden\r\nContent-Type: application/xml\r\nContent-Length: {}\r\n\
             Connection: close\r\n\r\n{body}",
            body.len()
        )?;
        return client.flush();
    }
    let mut server = TcpStream::connect(("127.0.0.1", upstream))?;
    server.write_all(&head)?;
    server.write_all(b"Connection: close\r\n\r\n")?;
    server.write_all(&body)?;
    let mut response = Vec::new();
    server.read_to_end(&mut response)?;
    // make sure the client sees the connection as closing
    let text_end = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(response.len());
    let head_text = String::from_utf8_lossy(&response[..text_end]).to_ascii_lowercase();
    if !head_text.contains("\r\nconnection: close") {
        let at = response
            .windows(2)
            .position(|w| w == b"\r\n")
            .map_or(0, |p| p + 2);
        response.splice(at..at, b"Connection: close\r\n".iter().copied());
    }
    client.write_all(&response)?;
    client.flush()
}

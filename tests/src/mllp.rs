//! MLLP peers for tests: a sender (client) and a downstream receiver.

use hie_hl7::mllp::{self, MllpDecoder, MllpItem};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// An MLLP sender.
pub struct Client {
    /// The connection.
    pub stream: TcpStream,
    decoder: MllpDecoder,
    buf: Vec<u8>,
    /// Frames decoded but not read yet (several replies can arrive in one read).
    ready: std::collections::VecDeque<Vec<u8>>,
}

impl Client {
    /// Connects to 127.0.0.1:`port`.
    pub fn connect(port: u16) -> std::io::Result<Client> {
        let stream = TcpStream::connect(("127.0.0.1", port))?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(Duration::from_secs(30)))?;
        Ok(Client { stream, decoder: MllpDecoder::default(), buf: Vec::new(), ready: Default::default() })
    }

    /// Connects, retrying until the listener is up (10 s).
    pub fn connect_retry(port: u16) -> Client {
        crate::wait_for(Duration::from_secs(10), "the MLLP listener", || Client::connect(port).ok())
    }

    /// Sends one framed message and returns the reply frame's payload.
    pub fn send(&mut self, msg: &[u8]) -> std::io::Result<Vec<u8>> {
        self.stream.write_all(&mllp::encode(msg))?;
        self.read_reply()
    }

    /// Writes raw bytes (for junk, split frames, pipelining).
    pub fn write_raw(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(bytes)
    }

    /// Reads the next reply frame.
    pub fn read_reply(&mut self) -> std::io::Result<Vec<u8>> {
        let mut chunk = [0u8; 65536];
        loop {
            for item in self.decoder.decode(&mut self.buf) {
                if let MllpItem::Frame(f) = item {
                    self.ready.push_back(f);
                }
            }
            if let Some(f) = self.ready.pop_front() {
                return Ok(f);
            }
            let n = self.stream.read(&mut chunk)?;
            if n == 0 {
                return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "connection closed"));
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
}

/// What the receiver does with one message.
#[derive(Clone, Debug)]
pub enum Reply {
    /// Answer an ACK with this MSA-1 code.
    Ack(&'static str),
    /// Read it and say nothing.
    Silent,
    /// Wait, then ACK with the code.
    Delay(Duration, &'static str),
    /// Close the connection without answering.
    Close,
}

type Policy = Arc<Mutex<Box<dyn FnMut(&[u8]) -> Reply + Send>>>;

/// A downstream system: accepts MLLP, records every message, answers per its policy.
pub struct Receiver {
    /// Its port.
    pub port: u16,
    received: Arc<Mutex<Vec<Vec<u8>>>>,
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
    policy: Policy,
}

impl Receiver {
    /// A receiver on `port` that ACKs AA.
    pub fn start(port: u16) -> Receiver {
        Receiver::with_policy(port, |_| Reply::Ack("AA"))
    }

    /// A receiver with a policy deciding each reply.
    pub fn with_policy(port: u16, policy: impl FnMut(&[u8]) -> Reply + Send + 'static) -> Receiver {
        let listener = crate::wait_for(Duration::from_secs(10), "the receiver port", || {
            TcpListener::bind(("127.0.0.1", port)).ok()
        });
        listener.set_nonblocking(true).expect("nonblocking");
        let received = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let policy: Policy = Arc::new(Mutex::new(Box::new(policy)));
        let (r, s, p) = (received.clone(), stop.clone(), policy.clone());
        let accept = std::thread::spawn(move || {
            let mut conns = Vec::new();
            while !s.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let (r, s, p) = (r.clone(), s.clone(), p.clone());
                        conns.push(std::thread::spawn(move || serve(stream, r, s, p)));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
            for c in conns {
                let _ = c.join();
            }
        });
        Receiver { port, received, stop, accept: Some(accept), policy }
    }

    /// Replaces the policy.
    pub fn set_policy(&self, policy: impl FnMut(&[u8]) -> Reply + Send + 'static) {
        *self.policy.lock().unwrap() = Box::new(policy);
    }

    /// Every message received so far, in order.
    pub fn messages(&self) -> Vec<Vec<u8>> {
        self.received.lock().unwrap().clone()
    }

    /// MSH-10 of every message received so far.
    pub fn control_ids(&self) -> Vec<String> {
        self.messages().iter().map(|m| crate::hl7::control_id(m)).collect()
    }

    /// Number of messages received.
    pub fn count(&self) -> usize {
        self.received.lock().unwrap().len()
    }

    /// Waits until at least `n` messages arrived.
    pub fn wait_for_count(&self, n: usize, timeout: Duration) {
        crate::wait_for(timeout, &format!("{n} messages at the receiver (have {})", self.count()), || {
            (self.count() >= n).then_some(())
        });
    }

    /// Stops listening and closes every connection.
    pub fn stop(mut self) -> Vec<Vec<u8>> {
        self.shutdown();
        self.messages()
    }

    fn shutdown(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(a) = self.accept.take() {
            let _ = a.join();
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn serve(mut stream: TcpStream, received: Arc<Mutex<Vec<Vec<u8>>>>, stop: Arc<AtomicBool>, policy: Policy) {
    let _ = stream.set_read_timeout(Some(Duration::from_millis(50)));
    let mut decoder = MllpDecoder::default();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 65536];
    while !stop.load(Ordering::SeqCst) {
        match stream.read(&mut chunk) {
            Ok(0) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock || e.kind() == std::io::ErrorKind::TimedOut => {
                continue;
            }
            Err(_) => return,
        }
        for item in decoder.decode(&mut buf) {
            let MllpItem::Frame(msg) = item else { continue };
            let reply = (policy.lock().unwrap())(&msg);
            received.lock().unwrap().push(msg.clone());
            let code = match reply {
                Reply::Ack(c) => c,
                Reply::Silent => continue,
                Reply::Delay(d, c) => {
                    std::thread::sleep(d);
                    c
                }
                Reply::Close => return,
            };
            let Ok(parsed) = hie_hl7::parse(&msg) else { continue };
            let ack = hie_hl7::ack::build_ack(
                &parsed,
                code.parse().unwrap_or(hie_hl7::ack::AckCode::AA),
                None,
                None,
                None,
                "20260101000000",
            );
            if stream.write_all(&mllp::encode(&ack)).is_err() {
                return;
            }
        }
    }
}

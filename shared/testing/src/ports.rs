//! Free loopback ports for the servers tests start.

use std::net::TcpListener;
use std::sync::{Mutex, PoisonError};

/// A free port on 127.0.0.1 (bound, then released for the server to take), never one this
/// process handed out before: the kernel may offer a just-released port again, and two
/// servers of one test (or two listeners of one server) would then collide.
pub fn free_port() -> u16 {
    static HANDED_OUT: Mutex<Vec<u16>> = Mutex::new(Vec::new());
    let mut handed_out = HANDED_OUT.lock().unwrap_or_else(PoisonError::into_inner);
    loop {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .map(|address| address.port())
            .expect("a free 127.0.0.1 port");
        if !handed_out.contains(&port) {
            handed_out.push(port);
            return port;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_never_handed_out_twice() {
        let ports: Vec<u16> = (0..200).map(|_| free_port()).collect();
        let mut distinct = ports.clone();
        distinct.sort_unstable();
        distinct.dedup();
        assert_eq!(distinct.len(), ports.len());
    }
}

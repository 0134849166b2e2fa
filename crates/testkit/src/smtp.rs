//! A real SMTP server for tests: aiosmtpd (docs/protocols.md §3) on a free loopback port, writing every
//! message it accepts to a maildir. Python's aiosmtpd is found or installed by [`crate::python`].

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::free_port;

pub struct SmtpServer {
    pub port: u16,
    child: Child,
    maildir: PathBuf,
    _dir: tempfile::TempDir,
}

impl SmtpServer {
    /// Starts a server and waits until it accepts connections. Panics with the reason when it
    /// cannot: SMTP tests never skip silently.
    pub fn start() -> SmtpServer {
        let python = crate::python::with("aiosmtpd", "aiosmtpd==1.4.6");
        let dir = tempfile::tempdir().expect("a temp dir");
        // aiosmtpd's Mailbox handler creates the maildir itself (and fails on an empty directory).
        let maildir = dir.path().join("maildir");
        let port = free_port();
        let child = Command::new(&python)
            .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}")])
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(&maildir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start aiosmtpd with {}: {e}", python.display()));
        crate::stop_with_this_process(child.id(), "");
        let deadline = Instant::now() + Duration::from_secs(15);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "aiosmtpd did not listen on port {port}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        SmtpServer {
            port,
            child,
            maildir,
            _dir: dir,
        }
    }

    /// The messages received so far, raw, oldest first.
    pub fn messages(&self) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(self.maildir.join("new")) else {
            return Vec::new();
        };
        let mut files: Vec<(std::time::SystemTime, PathBuf)> = entries
            .filter_map(Result::ok)
            .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
            .collect();
        files.sort();
        files
            .into_iter()
            .filter_map(|(_, p)| std::fs::read_to_string(p).ok())
            .collect()
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

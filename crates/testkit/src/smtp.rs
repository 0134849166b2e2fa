//! A real SMTP server for tests: aiosmtpd (docs/protocols.md §3) on a free loopback port, writing every
//! message it accepts to a maildir. Python's aiosmtpd is taken from `SWITCHBOARD_TEST_PYTHON`, else
//! the machine's `python3` when it has the module (e.g. Debian's python3-aiosmtpd), else a virtualenv under `target/` that is
//! created (with pip) on first use.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
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
        let python = python();
        let dir = tempfile::tempdir().expect("a temp dir");
        // aiosmtpd's Mailbox handler creates the maildir itself (and fails on an empty directory).
        let maildir = dir.path().join("maildir");
        let port = free_port();
        let child = Command::new(python)
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

/// A Python that has aiosmtpd, found or provisioned once per process.
fn python() -> &'static Path {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON.get_or_init(|| {
        if let Some(p) = std::env::var_os("SWITCHBOARD_TEST_PYTHON") {
            return PathBuf::from(p);
        }
        // Debian's python3-aiosmtpd installs for the system Python, which may not be first on PATH.
        for candidate in ["python3", "/usr/bin/python3"] {
            if has_aiosmtpd(Path::new(candidate)) {
                return PathBuf::from(candidate);
            }
        }
        let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/aiosmtpd-venv");
        let python = venv.join("bin/python");
        if !has_aiosmtpd(&python) {
            provision(&venv).unwrap_or_else(|e| {
                panic!("cannot provide aiosmtpd (pip install aiosmtpd, or set SWITCHBOARD_TEST_PYTHON): {e}")
            });
        }
        python
    })
}

fn has_aiosmtpd(python: &Path) -> bool {
    Command::new(python)
        .args(["-c", "import aiosmtpd"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A virtualenv with aiosmtpd; a lock file keeps test processes from building it twice at once.
fn provision(venv: &Path) -> Result<(), String> {
    let lock = venv.with_extension("lock");
    let script = format!(
        "exec 9>{lock} && flock 9 && ( [ -x {v}/bin/python ] && {v}/bin/python -c 'import aiosmtpd' ) 2>/dev/null \
         || ( python3 -m venv {v} && {v}/bin/pip install --quiet --disable-pip-version-check aiosmtpd==1.4.6 )",
        lock = lock.display(),
        v = venv.display()
    );
    crate::run(Command::new("sh").args(["-c", &script]))
}

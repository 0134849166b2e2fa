//! Test harness helpers: free loopback ports, a real SMTP server ([`SmtpServer`]), and a throwaway
//! PostgreSQL cluster started from the
//! machine's `initdb`/`pg_ctl` (as the `postgres` user when running as root, which PostgreSQL
//! requires). The cluster is shared by the tests of one process and stopped by a watchdog when that
//! process ends, however it ends.

pub mod python;
mod smtp;

pub use smtp::SmtpServer;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A port that was free on 127.0.0.1 a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind a loopback port")
        .port()
}

pub struct PgCluster {
    port: u16,
    bin: PathBuf,
    as_postgres: bool,
    next_db: AtomicUsize,
}

/// The process's cluster, started on first use. Panics with the reason when PostgreSQL cannot be
/// started: PostgreSQL tests never skip silently.
pub fn pg_cluster() -> &'static PgCluster {
    static CLUSTER: OnceLock<PgCluster> = OnceLock::new();
    CLUSTER.get_or_init(|| {
        PgCluster::start().unwrap_or_else(|e| panic!("cannot start a throwaway PostgreSQL: {e}"))
    })
}

impl PgCluster {
    fn start() -> Result<PgCluster, String> {
        let bin = pg_bin_dir()
            .ok_or("initdb not found: install PostgreSQL (Debian: apt-get install postgresql)")?;
        let as_postgres = is_root();
        let dir = tempfile::Builder::new()
            .prefix("switchboard-pg-")
            .tempdir()
            .map_err(|e| e.to_string())?
            .keep();
        let data = dir.join("data");
        if as_postgres {
            run(Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(&dir))?;
        }
        let port = free_port();
        let mut initdb = Self::command(&bin, as_postgres, "initdb");
        initdb.arg("-D").arg(&data).args([
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-sync",
        ]);
        run(&mut initdb)?;
        let options = format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=400",
            dir.display()
        );
        let mut start = Self::command(&bin, as_postgres, "pg_ctl");
        start
            .arg("-D")
            .arg(&data)
            .args(["-o", &options, "-l"])
            .arg(dir.join("log"))
            .args(["-w", "start"]);
        run(&mut start)?;
        watchdog(&bin, as_postgres, &dir, &data);
        Ok(PgCluster {
            port,
            bin,
            as_postgres,
            next_db: AtomicUsize::new(0),
        })
    }

    fn command(bin: &Path, as_postgres: bool, program: &str) -> Command {
        let path = bin.join(program);
        if as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(path);
            c
        } else {
            Command::new(path)
        }
    }

    /// A new, empty database; returns its URL.
    pub fn create_database(&self) -> String {
        let name = format!(
            "t{}_{}",
            std::process::id(),
            self.next_db.fetch_add(1, Ordering::SeqCst)
        );
        let mut c = Self::command(&self.bin, self.as_postgres, "createdb");
        c.args([
            "-h",
            "127.0.0.1",
            "-p",
            &self.port.to_string(),
            "-U",
            "postgres",
            &name,
        ]);
        run(&mut c).unwrap_or_else(|e| panic!("createdb failed: {e}"));
        self.url(&name)
    }

    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }
}

/// Stops the cluster and removes its files once this process is gone.
fn watchdog(bin: &Path, as_postgres: bool, dir: &Path, data: &Path) {
    let stop = format!(
        "{} -D {} stop -m immediate",
        bin.join("pg_ctl").display(),
        data.display()
    );
    let stop = if as_postgres {
        format!("runuser -u postgres -- {stop}")
    } else {
        stop
    };
    stop_with_this_process(
        0,
        &format!("{stop} >/dev/null 2>&1; rm -rf {}", dir.display()),
    );
}

/// Once this process is gone, however it ends: kills process `pid` (unless 0) and runs `then`.
#[allow(clippy::zombie_processes)] // the watchdog outlives this process by design; never waited for
fn stop_with_this_process(pid: u32, then: &str) {
    let kill = if pid == 0 {
        String::new()
    } else {
        format!("kill {pid} 2>/dev/null; ")
    };
    let script = format!(
        "while kill -0 {me} 2>/dev/null; do sleep 0.5; done; {kill}{then}",
        me = std::process::id(),
    );
    Command::new("sh")
        .args(["-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start a watchdog");
}

fn run(c: &mut Command) -> Result<(), String> {
    let out = c.output().map_err(|e| format!("{c:?}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{c:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0\n"))
}

/// The directory holding `initdb`, `pg_ctl` and `createdb`: `PG_BIN` if set, else Debian's layout,
/// else wherever `initdb` is on the PATH.
fn pg_bin_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("PG_BIN") {
        return Some(PathBuf::from(dir));
    }
    let mut debian: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("bin"))
        .filter(|b| b.join("initdb").exists() && b.join("createdb").exists())
        .collect();
    debian.sort();
    if let Some(newest) = debian.pop() {
        return Some(newest);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).find(|d| d.join("initdb").exists() && d.join("createdb").exists())
}

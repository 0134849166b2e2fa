//! Starts and stops servers for tests.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use reqwest::{Method, RequestBuilder};
use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_switchboard");
pub const ADMIN: &str = "sba_test-admin-token";
pub const MASTER_KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

#[derive(Clone, Copy, Debug)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The lines a server wrote to stderr (its log), across restarts.
pub type Logs = std::sync::Arc<std::sync::Mutex<Vec<String>>>;

pub struct TestServer {
    pub base: String,
    pub client: reqwest::Client,
    /// What the server logged so far.
    pub logs: Logs,
    child: Child,
    env: Vec<(String, String)>,
    /// Kept so the data dir lives as long as the server.
    dir: tempfile::TempDir,
}

impl TestServer {
    pub async fn start(backend: Backend) -> TestServer {
        TestServer::start_with(backend, &[]).await
    }

    /// A server with extra `SWITCHBOARD_*` settings.
    pub async fn start_with(backend: Backend, extra: &[(&str, &str)]) -> TestServer {
        let database = match backend {
            Backend::Sqlite => None,
            Backend::Postgres => Some(testkit::pg_cluster().create_database()),
        };
        TestServer::start_on(database.as_deref(), extra)
    }

    /// `count` nodes sharing one new PostgreSQL database and master key, each with its own data
    /// dir.
    pub fn cluster(count: usize, extra: &[(&str, &str)]) -> Vec<TestServer> {
        let database = testkit::pg_cluster().create_database();
        (0..count)
            .map(|_| TestServer::start_on(Some(&database), extra))
            .collect()
    }

    /// A server on this PostgreSQL database, or on SQLite in its data dir.
    fn start_on(postgres: Option<&str>, extra: &[(&str, &str)]) -> TestServer {
        TestServer::start_at(tempfile::tempdir().unwrap(), postgres, extra)
    }

    /// A SQLite server on a data dir the test prepared (e.g. with a restored backup).
    pub fn start_in(dir: tempfile::TempDir) -> TestServer {
        TestServer::start_at(dir, None, &[])
    }

    pub fn start_at(
        dir: tempfile::TempDir,
        postgres: Option<&str>,
        extra: &[(&str, &str)],
    ) -> TestServer {
        let mut env: Vec<(String, String)> = vec![("SWITCHBOARD_ADMIN_TOKEN".into(), ADMIN.into())];
        if let Some(url) = postgres {
            env.push(("SWITCHBOARD_DATABASE_URL".into(), url.to_owned()));
            env.push(("SWITCHBOARD_MASTER_KEY".into(), MASTER_KEY.into()));
        }
        env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let logs = Logs::default();
        let (child, base) = launch(dir.path(), &env, &logs);
        TestServer {
            base,
            client: client(),
            logs,
            child,
            env,
            dir,
        }
    }

    pub fn data_dir(&self) -> &Path {
        self.dir.path()
    }

    /// Stops the server with SIGKILL: nothing gets to finish.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Stops the server (SIGKILL: nothing gets to finish) and starts it again on the same data.
    pub fn restart(&mut self) {
        self.kill();
        let (child, base) = launch(self.dir.path(), &self.env, &self.logs);
        self.child = child;
        self.base = base;
    }

    /// Like [`restart`](Self::restart), with these settings changed (e.g. a later
    /// `SWITCHBOARD_CLOCK_START`: hours of downtime in a moment).
    pub fn restart_with(&mut self, changed: &[(&str, &str)]) {
        for (k, v) in changed {
            self.env.retain(|(key, _)| key != k);
            self.env.push((k.to_string(), v.to_string()));
        }
        self.restart();
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A request with the admin token acting on store `default`.
    pub fn admin(&self, method: Method, path: &str) -> RequestBuilder {
        self.as_token(ADMIN, method, path)
            .header("StoreId", "st_default")
    }

    pub fn as_token(&self, token: &str, method: Method, path: &str) -> RequestBuilder {
        self.client
            .request(method, self.url(path))
            .header("Authorization", format!("Bearer {token}"))
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn launch(dir: &Path, env: &[(String, String)], logs: &Logs) -> (Child, String) {
    let mut cmd = serve_command(dir);
    cmd.envs(env.iter().map(|(k, v)| (k, v)));
    spawn_logged(cmd, logs).unwrap_or_else(|e| panic!("server did not start: {e}"))
}

/// `switchboard serve` on port 0 with a data dir, environment cleared of `SWITCHBOARD_*`.
pub fn serve_command(data_dir: &Path) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir);
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("SWITCHBOARD_")) {
        cmd.env_remove(k);
    }
    cmd.env("SWITCHBOARD_LOG", "warn");
    cmd
}

/// Spawns a server and waits for its `listening on http://ADDR` line. On failure, says what it printed.
pub fn spawn(cmd: Command) -> Result<(Child, String), String> {
    spawn_logged(cmd, &Logs::default())
}

/// [`spawn`], keeping the lines the server writes to stderr in `logs` too.
pub fn spawn_logged(mut cmd: Command, logs: &Logs) -> Result<(Child, String), String> {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| e.to_string())?;
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).map_err(|e| e.to_string())?;
    match line.trim().strip_prefix("listening on ") {
        Some(base) => {
            forward(stdout, "", None);
            let stderr = BufReader::new(child.stderr.take().unwrap());
            forward(stderr, "server: ", Some(logs.clone()));
            Ok((child, base.to_owned()))
        }
        None => {
            let status = child.wait().map_err(|e| e.to_string())?;
            let mut err = String::new();
            std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).ok();
            Err(format!("{status}: {line}{err}"))
        }
    }
}

/// Keeps reading a server's output so it never blocks on a full pipe. Lines go to the test's
/// captured output (threads inherit it), shown when the test fails.
fn forward(from: impl BufRead + Send + 'static, prefix: &'static str, keep: Option<Logs>) {
    std::thread::spawn(move || {
        for line in from.lines().map_while(Result::ok) {
            eprintln!("{prefix}{line}");
            if let Some(keep) = &keep {
                keep.lock().unwrap().push(line);
            }
        }
    });
}

pub fn fixture_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/seeds")
        .join(name)
}

/// A seed fixture as strict JSON (comments and trailing commas removed).
pub fn fixture(name: &str) -> Value {
    switchboard_core::jsonc::parse(&std::fs::read_to_string(fixture_path(name)).unwrap()).unwrap()
}

/// An HTTP client for tests (reqwest needs the process's TLS provider installed first).
pub fn client() -> reqwest::Client {
    switchboard_outbound::install_tls();
    reqwest::Client::new()
}

/// Sends and returns status and JSON body.
pub async fn send(req: RequestBuilder) -> (u16, Value) {
    let res = req.send().await.expect("request sent");
    let status = res.status().as_u16();
    let text = res.text().await.unwrap();
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"))
    };
    (status, body)
}

/// "Never twice", checked throughout a window rather than with one look after a sleep: the count
/// must never pass `expected` while the window lasts, and must equal it at its end. The window
/// should span several of the server's poll intervals.
pub async fn steady<F, Fut>(expected: usize, window: std::time::Duration, what: &str, mut count: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = usize>,
{
    let deadline = std::time::Instant::now() + window;
    loop {
        let n = count().await;
        assert!(n <= expected, "{what}: {n}, more than {expected}");
        if std::time::Instant::now() >= deadline {
            assert_eq!(n, expected, "{what}");
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
}

/// The pointers of an error's `details`, in order.
pub fn pointers(body: &Value) -> Vec<&str> {
    body["error"]["details"]
        .as_array()
        .unwrap_or_else(|| panic!("no error details in {body}"))
        .iter()
        .map(|d| d["pointer"].as_str().unwrap())
        .collect()
}

/// Runs each listed case against both backends.
macro_rules! both_backends {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test]
            async fn $case() {
                super::$case(crate::harness::TestServer::start(crate::harness::Backend::Sqlite).await).await;
            })*
        }
        mod postgres {
            $(#[tokio::test]
            async fn $case() {
                super::$case(crate::harness::TestServer::start(crate::harness::Backend::Postgres).await).await;
            })*
        }
    };
}
pub(crate) use both_backends;

/// Like `both_backends!`, with the settings of the const `$env` (`&[(&str, &str)]`) of the
/// calling module.
macro_rules! both_backends_with {
    ($env:ident; $($case:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                super::$case(crate::harness::TestServer::start_with(crate::harness::Backend::Sqlite, super::$env).await).await;
            })*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                super::$case(crate::harness::TestServer::start_with(crate::harness::Backend::Postgres, super::$env).await).await;
            })*
        }
    };
}
pub(crate) use both_backends_with;

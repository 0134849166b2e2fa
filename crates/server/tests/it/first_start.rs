use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use crate::harness::*;

fn permissions(path: &std::path::Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

async fn status(base: &str, token: &str) -> u16 {
    let res = crate::harness::client()
        .get(format!("{base}/api/workflows"))
        .header("Authorization", format!("Bearer {token}"))
        .header("StoreId", "st_default")
        .send()
        .await
        .unwrap();
    res.status().as_u16()
}

fn stop(mut child: std::process::Child) -> std::process::ExitStatus {
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    child.wait().unwrap()
}

#[tokio::test]
async fn first_start_creates_an_admin_token_once() {
    let dir = tempfile::tempdir().unwrap();
    let (child, base) = spawn(serve_command(dir.path())).unwrap();
    let token = std::fs::read_to_string(dir.path().join("admin-token")).unwrap();
    assert!(token.starts_with("sba_"));
    assert_eq!(permissions(&dir.path().join("admin-token")), 0o600);
    assert_eq!(permissions(&dir.path().join("master.key")), 0o600);
    assert_eq!(status(&base, &token).await, 200);
    assert!(stop(child).success(), "SIGTERM stops the server cleanly");

    // Second start: same token, nothing new created.
    let (child, base) = spawn(serve_command(dir.path())).unwrap();
    assert_eq!(status(&base, &token).await, 200);
    assert_eq!(
        std::fs::read_to_string(dir.path().join("admin-token")).unwrap(),
        token
    );
    stop(child);

    // Another master key is refused: the database was set up with the generated one.
    let mut cmd = serve_command(dir.path());
    cmd.env("SWITCHBOARD_MASTER_KEY", MASTER_KEY);
    let err = spawn(cmd).unwrap_err();
    assert!(err.contains("another master key"), "{err}");
}

#[tokio::test]
async fn settings_come_from_flags_environment_and_file() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("switchboard.toml");
    std::fs::write(
        &config,
        "admin_token = \"sba_from-file\"\nbody_limit = 100\n",
    )
    .unwrap();
    let mut cmd = serve_command(&dir.path().join("data"));
    cmd.arg("--config").arg(&config);
    let (child, base) = spawn(cmd).unwrap();
    assert_eq!(status(&base, "sba_from-file").await, 200);
    let res = crate::harness::client()
        .post(format!("{base}/api/workflows"))
        .header("Authorization", "Bearer sba_from-file")
        .header("StoreId", "st_default")
        .json(&serde_json::json!({"name": "x".repeat(200)}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 413, "body_limit from the file applies");
    stop(child);

    // The environment overrides the file.
    let mut cmd = serve_command(&dir.path().join("data"));
    cmd.arg("--config")
        .arg(&config)
        .env("SWITCHBOARD_ADMIN_TOKEN", "sba_from-env");
    let (child, base) = spawn(cmd).unwrap();
    assert_eq!(status(&base, "sba_from-env").await, 200);
    assert_eq!(status(&base, "sba_from-file").await, 401);
    stop(child);
}

#[tokio::test]
async fn postgres_needs_the_master_key() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = serve_command(dir.path());
    cmd.env(
        "SWITCHBOARD_DATABASE_URL",
        testkit::pg_cluster().create_database(),
    )
    .env("SWITCHBOARD_ADMIN_TOKEN", ADMIN);
    let err = spawn(cmd).unwrap_err();
    assert!(
        err.contains("SWITCHBOARD_MASTER_KEY is required with PostgreSQL"),
        "{err}"
    );
}

#[tokio::test]
async fn a_busy_port_fails_before_anything_is_written() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut cmd = Command::new(BIN);
    cmd.args([
        "serve",
        "--listen",
        &format!("127.0.0.1:{port}"),
        "--data-dir",
    ])
    .arg(&data)
    .env("SWITCHBOARD_LOG", "warn")
    .env_remove("SWITCHBOARD_ADMIN_TOKEN");
    let err = spawn(cmd).unwrap_err();
    assert!(err.contains("cannot listen on"), "{err}");
    assert!(!err.contains("First start"), "{err}");
    assert!(
        !data.exists(),
        "no data dir made for a server that cannot start"
    );
}

#[tokio::test]
async fn the_first_start_names_the_address_bound() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let mut child = serve_command(dir.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut listening = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut listening)
        .unwrap();
    let base = listening
        .trim()
        .strip_prefix("listening on ")
        .unwrap()
        .to_owned();
    let stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let try_line = stderr
        .lines()
        .map_while(Result::ok)
        .find(|l| l.trim_start().starts_with("Try:"))
        .unwrap();
    stop(child);
    assert!(
        try_line.contains(&format!("{base}/api/workflows")),
        "{try_line} (listening on {base})"
    );
    assert!(!base.ends_with(":0"), "{base}");
}

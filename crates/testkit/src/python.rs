//! The Python tools tests drive (aiosmtpd, openapi-spec-validator, Schemathesis,
//! openapi-python-client): `SWITCHBOARD_TEST_PYTHON` when set, else the machine's `python3` when
//! it has the module (e.g. Debian's python3-aiosmtpd), else one virtualenv under `target/` into
//! which each tool is installed with pip on first use. Tests never skip for want of a tool: they
//! fail saying why.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;

/// A Python that can import `module`, installing `requirement` (a pip requirement) if needed.
pub fn with(module: &str, requirement: &str) -> PathBuf {
    static FOUND: Mutex<Option<HashMap<String, PathBuf>>> = Mutex::new(None);
    let mut found = FOUND.lock().expect("python tools");
    let found = found.get_or_insert_with(HashMap::new);
    if let Some(python) = found.get(module) {
        return python.clone();
    }
    let python = find_or_install(module, requirement);
    found.insert(module.to_owned(), python.clone());
    python
}

fn find_or_install(module: &str, requirement: &str) -> PathBuf {
    if let Some(p) = std::env::var_os("SWITCHBOARD_TEST_PYTHON") {
        return PathBuf::from(p);
    }
    // Debian's python3-* packages install for the system Python, which may not be first on PATH.
    for candidate in ["python3", "/usr/bin/python3"] {
        if imports(Path::new(candidate), module) {
            return PathBuf::from(candidate);
        }
    }
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/test-python");
    let python = venv.join("bin/python");
    if !imports(&python, module) {
        install(&venv, module, requirement).unwrap_or_else(|e| {
            panic!("cannot provide {module} (pip install '{requirement}', or set SWITCHBOARD_TEST_PYTHON): {e}")
        });
    }
    python
}

fn imports(python: &Path, module: &str) -> bool {
    Command::new(python)
        .args(["-c", &format!("import {module}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Installs `requirement` into the virtualenv (made first if missing); a lock file keeps test
/// processes from installing at once.
fn install(venv: &Path, module: &str, requirement: &str) -> Result<(), String> {
    let lock = venv.with_extension("lock");
    let script = format!(
        "exec 9>{lock} && flock 9 && ( {v}/bin/python -c 'import {module}' ) 2>/dev/null \
         || ( ( [ -x {v}/bin/python ] || python3 -m venv {v} ) \
              && {v}/bin/pip install --quiet --disable-pip-version-check '{requirement}' )",
        lock = lock.display(),
        v = venv.display()
    );
    crate::run(Command::new("sh").args(["-c", &script]))
}

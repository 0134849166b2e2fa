//! Opening the database and the first-start work: the data dir, the master key (generated into the
//! data dir, or `SWITCHBOARD_MASTER_KEY`, checked against the database), store `default`, and an admin
//! token (generated once, or `SWITCHBOARD_ADMIN_TOKEN`). On PostgreSQL this happens once per database,
//! not per node.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, bail};
use base64::Engine;
use sha2::{Digest, Sha256};
use switchboard_core::ids;
use switchboard_store::{NewStore, NewToken, Store, StoreError};

use crate::config::Settings;
use switchboard_engine::clock::now_ms;
use switchboard_engine::secrets::{Sealer, hash_token, new_token, random_bytes};

pub const DEFAULT_STORE_ID: &str = "st_default";
const KEY_FILE: &str = "master.key";
const TOKEN_FILE: &str = "admin-token";

pub struct Boot {
    pub store: Arc<dyn Store>,
    /// Hash of `SWITCHBOARD_ADMIN_TOKEN`, accepted as an admin token without being stored.
    pub admin_hash: Option<String>,
    /// Seals secrets at rest under the master key.
    pub sealer: Sealer,
}

/// Opens the database and does the first-start work, for a server listening on `addr`.
pub async fn prepare(settings: &Settings, addr: std::net::SocketAddr) -> anyhow::Result<Boot> {
    let dir = &settings.data_dir;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("cannot create the data dir {}", dir.display()))?;
    let url = settings.database_url();
    let store = switchboard_store::open(&url)
        .await
        .with_context(|| format!("cannot open the database {}", redact(&url)))?;

    let key = master_key(settings)?;
    let check = hex::encode(Sha256::digest(
        [b"switchboard master key check:".as_slice(), &key].concat(),
    ));
    if store.init_meta("master_key_check", &check).await? != check {
        bail!(
            "this database was set up with another master key: give the original one (SWITCHBOARD_MASTER_KEY or {})",
            dir.join(KEY_FILE).display()
        );
    }

    if store.get_store(DEFAULT_STORE_ID).await?.is_none() {
        let default = NewStore {
            id: DEFAULT_STORE_ID.into(),
            name: "default".into(),
            now: now_ms(),
        };
        match store.create_store(default, None).await {
            Ok(_) | Err(StoreError::Conflict { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }

    let admin_hash = settings.admin_token.as_deref().map(hash_token);
    if admin_hash.is_none() {
        first_admin_token(&*store, dir, addr).await?;
    }
    Ok(Boot {
        store,
        admin_hash,
        sealer: Sealer::new(&key),
    })
}

/// Creates the admin token on the very first start (whichever node gets there first).
async fn first_admin_token(
    store: &dyn Store,
    dir: &Path,
    listen: std::net::SocketAddr,
) -> anyhow::Result<()> {
    let id = ids::new_id(ids::TOKEN);
    if store.init_meta("admin_token_id", &id).await? != id {
        return Ok(());
    }
    let token = new_token("sba");
    store
        .create_token(NewToken {
            id,
            store_id: None,
            name: Some("admin".into()),
            hash: hash_token(&token),
            now: now_ms(),
        })
        .await?;
    let path = dir.join(TOKEN_FILE);
    write_private(&path, token.as_bytes())?;
    eprintln!(
        "First start: created store 'default' (StoreId: {DEFAULT_STORE_ID}) and an admin token, saved in {path} (mode 0600):\n  {token}\n\
         Try: curl -H \"Authorization: Bearer $(cat {path})\" -H \"StoreId: {DEFAULT_STORE_ID}\" http://{listen}/api/workflows",
        path = path.display()
    );
    Ok(())
}

fn master_key(settings: &Settings) -> anyhow::Result<[u8; 32]> {
    let b64 = base64::engine::general_purpose::STANDARD;
    if let Some(given) = &settings.master_key {
        let key = b64
            .decode(given.trim())
            .context("SWITCHBOARD_MASTER_KEY is not base64")?;
        return <[u8; 32]>::try_from(key.as_slice()).map_err(|_| {
            anyhow::anyhow!(
                "SWITCHBOARD_MASTER_KEY must be 32 bytes (base64), not {}",
                key.len()
            )
        });
    }
    if settings.is_postgres() {
        bail!(
            "SWITCHBOARD_MASTER_KEY is required with PostgreSQL: every node must use the same key (e.g. `openssl rand -base64 32`)"
        );
    }
    let path = settings.data_dir.join(KEY_FILE);
    if path.exists() {
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let key = b64
            .decode(text.trim())
            .with_context(|| format!("{} is not base64", path.display()))?;
        return <[u8; 32]>::try_from(key.as_slice())
            .map_err(|_| anyhow::anyhow!("{} must hold 32 bytes (base64)", path.display()));
    }
    let key = random_bytes::<32>();
    write_private(&path, b64.encode(key).as_bytes())?;
    Ok(key)
}

fn write_private(path: &Path, contents: &[u8]) -> anyhow::Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    file.write_all(contents)?;
    file.sync_all()?;
    Ok(())
}

/// A database URL without its password, for messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.find(':') {
                Some(c) => format!("{}{}:***{}", &url[..s + 3], &creds[..c], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            super::redact("postgres://u:secret@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(super::redact("sqlite://./x.db"), "sqlite://./x.db");
    }
}

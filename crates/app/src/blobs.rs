//! Where attachment bytes are kept. Behind a trait so that an S3-compatible store can be
//! added; the default keeps files under the data directory.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Content-addressed storage for attachment bytes. Keys are `tenant/sha256`; putting the
/// same key twice keeps one copy. Calls block: run them on the blocking pool.
pub trait BlobStore: Send + Sync {
    fn put(&self, key: &str, data: &[u8]) -> io::Result<()>;
    fn get(&self, key: &str) -> io::Result<Option<Vec<u8>>>;
}

/// Files under `root`: `root/<tenant>/<first two hex digits>/<sha256>`, written to a
/// temporary file, flushed to disk and renamed, so a crash never leaves a torn file under
/// the final name.
#[derive(Debug, Clone)]
pub struct FsBlobStore {
    root: PathBuf,
}

impl FsBlobStore {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    fn path(&self, key: &str) -> io::Result<PathBuf> {
        let (tenant, hash) = key
            .split_once('/')
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "bad blob key"))?;
        let safe =
            |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
        if !safe(tenant) || !safe(hash) || hash.len() < 2 {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "bad blob key"));
        }
        Ok(self.root.join(tenant).join(&hash[..2]).join(hash))
    }
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

impl BlobStore for FsBlobStore {
    fn put(&self, key: &str, data: &[u8]) -> io::Result<()> {
        let path = self.path(key)?;
        if let Ok(meta) = std::fs::metadata(&path)
            && meta.len() == data.len() as u64
        {
            return Ok(());
        }
        let dir = path
            .parent()
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "bad blob key"))?;
        std::fs::create_dir_all(dir)?;
        let tmp = dir.join(format!(".{}.tmp", uuid::Uuid::new_v4()));
        let result = (|| {
            let mut file = std::fs::File::create(&tmp)?;
            file.write_all(data)?;
            file.sync_all()?;
            std::fs::rename(&tmp, &path)?;
            sync_dir(dir)
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result
    }

    fn get(&self, key: &str) -> io::Result<Option<Vec<u8>>> {
        match std::fs::read(self.path(key)?) {
            Ok(data) => Ok(Some(data)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// The blob-store key for bytes of a tenant.
pub fn blob_key(tenant: workorders_domain::TenantId, sha256: &str) -> String {
    format!("{tenant}/{sha256}")
}

/// Writes bytes to the blob store (on the blocking pool) and returns their key.
pub async fn store_bytes(
    app: &crate::App,
    tenant: workorders_domain::TenantId,
    sha256: &str,
    data: impl AsRef<[u8]> + Send + 'static,
) -> crate::AppResult<String> {
    let key = blob_key(tenant, sha256);
    let blobs = app.blobs.clone();
    let k = key.clone();
    tokio::task::spawn_blocking(move || blobs.put(&k, data.as_ref()))
        .await
        .map_err(crate::AppError::internal)?
        .map_err(crate::AppError::internal)?;
    Ok(key)
}

/// The bytes of an attachment: from the blob store, or inline for rows from before it.
pub async fn load_bytes(
    app: &crate::App,
    record: &workorders_persistence::attachments::AttachmentRecord,
    inline: Vec<u8>,
) -> crate::AppResult<Vec<u8>> {
    let Some(key) = record.storage_key.clone() else {
        return Ok(inline);
    };
    let blobs = app.blobs.clone();
    tokio::task::spawn_blocking(move || blobs.get(&key))
        .await
        .map_err(crate::AppError::internal)?
        .map_err(crate::AppError::internal)?
        .ok_or_else(|| {
            crate::AppError::internal(anyhow::anyhow!(
                "attachment bytes missing from the blob store"
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn put_get_and_refuse_bad_keys() {
        let dir = std::env::temp_dir().join(format!("blobs-{}", uuid::Uuid::new_v4()));
        let store = FsBlobStore::new(&dir);
        store.put("t1/abcdef", b"hello").expect("put");
        store.put("t1/abcdef", b"hello").expect("put again");
        assert_eq!(
            store.get("t1/abcdef").expect("get"),
            Some(b"hello".to_vec())
        );
        assert_eq!(store.get("t1/abcdee").expect("get"), None);
        assert!(store.put("../x/abcdef", b"x").is_err());
        assert!(store.put("t1/ab/../cd", b"x").is_err());
        let _ = std::fs::remove_dir_all(dir);
    }
}

//! The release protocol, on the local file system and on object stores.

use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::remote::RemoteUrl;
use super::{Location, StorageError, io_error};

/// A file of a release, as the manifest lists it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ReleasedFile {
    /// Path relative to the release folder.
    pub path: String,
    /// Size in bytes.
    pub bytes: u64,
    /// SHA-256 of the content, hexadecimal.
    pub sha256: String,
}

/// Whether `<output>/<run_id>/manifest.json` exists: the run was released.
pub async fn is_released(output: &Location, run_id: &str) -> Result<bool, StorageError> {
    match output {
        Location::Local(path) => Ok(path.join(run_id).join("manifest.json").exists()),
        Location::Remote(url) => {
            let manifest = url.join(run_id).join("manifest.json");
            manifest.exists(&*url.store()?).await
        }
    }
}

/// Copies `data_files` into `<output>/<run_id>/`, then writes the manifest that
/// `make_manifest` builds from the copied files, then points `<output>/latest` at the run;
/// returns the release's location.
///
/// On a file system each file is written under a temporary name, synced and renamed; on an
/// object store each file is one put, which the store makes atomic. Either way no reader sees a
/// partial file, and the manifest appears only after every data file is complete.
pub async fn publish<F>(
    output: &Location,
    run_id: &str,
    data_files: &[PathBuf],
    make_manifest: F,
) -> Result<String, StorageError>
where
    F: FnOnce(&[ReleasedFile]) -> Vec<u8>,
{
    match output {
        Location::Local(path) => publish_local(path, run_id, data_files, make_manifest)
            .map(|dir| dir.display().to_string()),
        Location::Remote(url) => publish_remote(url, run_id, data_files, make_manifest).await,
    }
}

fn file_name(source: &Path) -> Result<String, StorageError> {
    source
        .file_name()
        .and_then(|n| n.to_str())
        .map(str::to_owned)
        .ok_or_else(|| StorageError::BadParquet {
            path: source.to_owned(),
            reason: "the staged file has no UTF-8 name".to_owned(),
        })
}

async fn publish_remote<F>(
    output: &RemoteUrl,
    run_id: &str,
    data_files: &[PathBuf],
    make_manifest: F,
) -> Result<String, StorageError>
where
    F: FnOnce(&[ReleasedFile]) -> Vec<u8>,
{
    if !output.is_writable() {
        return Err(StorageError::ReadOnly {
            url: output.to_string(),
        });
    }
    let store = output.store()?;
    let release = output.join(run_id);
    if release.join("manifest.json").exists(&*store).await? {
        return Err(StorageError::AlreadyReleased {
            run_id: run_id.to_owned(),
            path: PathBuf::from(release.to_string()),
        });
    }
    let mut released = Vec::new();
    for source in data_files {
        let name = file_name(source)?;
        let bytes = std::fs::read(source).map_err(io_error(source))?;
        let entry = ReleasedFile {
            path: name.clone(),
            bytes: bytes.len() as u64,
            sha256: sha256_hex(&bytes),
        };
        release.join(&name).put(&*store, bytes).await?;
        released.push(entry);
    }
    let manifest = make_manifest(&released);
    release.join("manifest.json").put(&*store, manifest).await?;
    output
        .join("latest")
        .put(&*store, format!("{run_id}\n").into_bytes())
        .await?;
    Ok(release.to_string())
}

fn publish_local<F>(
    output: &Path,
    run_id: &str,
    data_files: &[PathBuf],
    make_manifest: F,
) -> Result<PathBuf, StorageError>
where
    F: FnOnce(&[ReleasedFile]) -> Vec<u8>,
{
    let release_dir = output.join(run_id);
    if release_dir.join("manifest.json").exists() {
        return Err(StorageError::AlreadyReleased {
            run_id: run_id.to_owned(),
            path: release_dir,
        });
    }
    std::fs::create_dir_all(&release_dir).map_err(io_error(&release_dir))?;

    let mut released = Vec::new();
    for source in data_files {
        let name = file_name(source)?;
        let bytes = std::fs::read(source).map_err(io_error(source))?;
        write_atomically(&release_dir.join(&name), &bytes)?;
        released.push(ReleasedFile {
            path: name,
            bytes: bytes.len() as u64,
            sha256: sha256_hex(&bytes),
        });
    }

    let manifest = make_manifest(&released);
    write_atomically(&release_dir.join("manifest.json"), &manifest)?;
    write_atomically(&output.join("latest"), format!("{run_id}\n").as_bytes())?;
    sync_dir(output)?;
    Ok(release_dir)
}

/// SHA-256 of bytes, hexadecimal.
pub fn sha256_hex(bytes: &[u8]) -> String {
    crate::config::hex(&Sha256::digest(bytes))
}

fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), StorageError> {
    let file_name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let temporary = path.with_file_name(format!(".{file_name}.partial"));
    let mut file = std::fs::File::create(&temporary).map_err(io_error(&temporary))?;
    file.write_all(bytes).map_err(io_error(&temporary))?;
    file.sync_all().map_err(io_error(&temporary))?;
    std::fs::rename(&temporary, path).map_err(io_error(path))?;
    if let Some(parent) = path.parent() {
        sync_dir(parent)?;
    }
    Ok(())
}

fn sync_dir(path: &Path) -> Result<(), StorageError> {
    std::fs::File::open(path)
        .and_then(|dir| dir.sync_all())
        .map_err(io_error(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publish_writes_data_then_manifest_then_latest_and_refuses_a_second_time() {
        let dir = tempfile::tempdir().unwrap();
        let staged = dir.path().join("synthetic.parquet");
        std::fs::write(&staged, b"data").unwrap();
        let output = dir.path().join("out");
        let release = publish_local(&output, "run-1", std::slice::from_ref(&staged), |files| {
            assert_eq!(files[0].bytes, 4);
            // sha256("data")
            assert_eq!(
                files[0].sha256,
                "3a6eb0790f39ac87c94f3856b2dd2c5d110e6811602261a9a923d3bb23adc8b7"
            );
            b"{}".to_vec()
        })
        .unwrap();
        assert_eq!(
            std::fs::read(release.join("synthetic.parquet")).unwrap(),
            b"data"
        );
        assert_eq!(
            std::fs::read_to_string(dir.path().join("out/latest")).unwrap(),
            "run-1\n"
        );
        let again = publish_local(&output, "run-1", &[staged], |_| b"{}".to_vec());
        assert!(matches!(again, Err(StorageError::AlreadyReleased { .. })));
    }
}

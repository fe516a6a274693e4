//! Key files: a mnemonic stored as text, readable by its owner only.
//!
//! A key file holds one line, the mnemonic phrase. It is created with mode
//! 0600 (never world- or group-readable, not even for an instant) and refused
//! on load when anyone but its owner could read it. These functions do
//! blocking file I/O: call them at start-up or from `spawn_blocking`.
//!
//! ```
//! use allora_sdk::keyfile;
//! use allora_sdk::keys::Mnemonic;
//!
//! let dir = std::env::temp_dir().join(format!("allora-keyfile-doc-{}", std::process::id()));
//! std::fs::create_dir_all(&dir)?;
//! let path = dir.join("worker.key");
//! # let _ = std::fs::remove_file(&path);
//! let mnemonic = Mnemonic::generate(24)?;
//! keyfile::write_new(&path, &mnemonic)?;
//! let loaded = keyfile::read(&path)?;
//! assert_eq!(loaded.phrase(), mnemonic.phrase());
//! # std::fs::remove_dir_all(&dir)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::io::{Read, Write};
use std::path::Path;

use zeroize::Zeroizing;

use crate::keys::{KeyError, Mnemonic};

/// Largest key file accepted, in bytes; a mnemonic is well under this.
const MAX_KEY_FILE_LEN: u64 = 4096;

fn io_error(path: &Path, source: std::io::Error) -> KeyError {
    KeyError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Writes a mnemonic to a new key file with mode 0600.
///
/// Fails with [`KeyError::AlreadyExists`] rather than overwrite a key. Parent
/// directories are created (mode 0700) when missing.
pub fn write_new(path: &Path, mnemonic: &Mnemonic) -> Result<(), KeyError> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        create_private_dir(parent).map_err(|e| io_error(parent, e))?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::AlreadyExists => KeyError::AlreadyExists {
            path: path.to_owned(),
        },
        _ => io_error(path, e),
    })?;
    let mut contents = mnemonic.phrase();
    contents.push('\n');
    file.write_all(contents.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| io_error(path, e))
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}

/// Reads the key file at `path`, or creates it with a new 24-word mnemonic
/// when there is none. Returns the mnemonic and whether it was created.
pub fn load_or_create(path: &Path) -> Result<(Mnemonic, bool), KeyError> {
    if path.exists() {
        return Ok((read(path)?, false));
    }
    let mnemonic = Mnemonic::generate(24)?;
    write_new(path, &mnemonic)?;
    Ok((mnemonic, true))
}

/// Reads a mnemonic from a key file, refusing a file that group or others
/// can read or write.
pub fn read(path: &Path) -> Result<Mnemonic, KeyError> {
    let mut file = std::fs::File::open(path).map_err(|e| io_error(path, e))?;
    let meta = file.metadata().map_err(|e| io_error(path, e))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(KeyError::InsecurePermissions {
                path: path.to_owned(),
                mode,
            });
        }
    }
    if meta.len() > MAX_KEY_FILE_LEN {
        return Err(io_error(
            path,
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "larger than a mnemonic key file can be",
            ),
        ));
    }
    let mut contents = Zeroizing::new(String::new());
    file.read_to_string(&mut contents)
        .map_err(|e| io_error(path, e))?;
    contents.parse()
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn written_files_are_private_and_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/worker.key");
        let m = Mnemonic::generate(12).unwrap();
        write_new(&path, &m).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let dir_mode = std::fs::metadata(path.parent().unwrap())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(dir_mode & 0o077, 0);
        assert_eq!(read(&path).unwrap().phrase(), m.phrase());
    }

    #[test]
    fn refuses_to_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("worker.key");
        write_new(&path, &Mnemonic::generate(12).unwrap()).unwrap();
        let before = std::fs::read(&path).unwrap();
        let err = write_new(&path, &Mnemonic::generate(12).unwrap()).unwrap_err();
        assert!(matches!(err, KeyError::AlreadyExists { .. }));
        assert_eq!(std::fs::read(&path).unwrap(), before);
    }

    #[test]
    fn refuses_group_or_world_readable_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("worker.key");
        let m = Mnemonic::generate(24).unwrap();
        write_new(&path, &m).unwrap();
        for mode in [0o640, 0o604, 0o644, 0o660] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
            let err = read(&path).unwrap_err();
            assert!(
                matches!(err, KeyError::InsecurePermissions { .. }),
                "mode {mode:o}"
            );
            assert!(err.to_string().contains("chmod 600"));
            assert!(!err
                .to_string()
                .contains(m.phrase().split(' ').next().unwrap()));
        }
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o400)).unwrap();
        assert!(read(&path).is_ok());
    }

    #[test]
    fn bad_contents_are_reported_without_echoing_them() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("worker.key");
        std::fs::write(&path, "correct horse battery staple\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let err = read(&path).unwrap_err();
        assert!(matches!(err, KeyError::InvalidMnemonic(_)));
        assert!(!err.to_string().contains("horse"));
        assert!(matches!(
            read(&dir.path().join("missing.key")),
            Err(KeyError::Io { .. })
        ));
    }
}

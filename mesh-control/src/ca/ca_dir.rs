//! `--ca-dir`: Istio's `cacerts` files, read at start; when the directory holds no
//! CA yet, a new self-signed root is written there first (keys 0600). The token key
//! (`token-signing-key.pem`) lives beside them and is created the same way.

use std::fs;
use std::io::{ErrorKind, Write as _};
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use super::authority::{
    Authority, AuthorityError, CA_CERT, CA_KEY, CERT_CHAIN, CaFiles, ROOT_CERT, self_signed_root,
};
use super::key::{self, CaKeyType, KeyError};
use super::token::{TokenKey, TokenKeyError};
use super::trust::pem;

/// The token signing key's file name.
pub const TOKEN_KEY: &str = "token-signing-key.pem";

/// What `--ca-dir` gave.
#[derive(Debug)]
pub struct OpenedCaDir {
    pub authority: Authority,
    pub token_key: TokenKey,
    /// Whether a new root was made (first start).
    pub created_root: bool,
}

/// A new self-signed root, as PEM.
#[derive(Clone)]
pub struct NewRoot {
    pub key_pem: String,
    pub cert_pem: String,
}

impl std::fmt::Debug for NewRoot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key.
        f.debug_struct("NewRoot")
            .field("cert_pem", &self.cert_pem)
            .finish_non_exhaustive()
    }
}

/// Why the CA directory cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum CaDirError {
    #[error("cannot {action} {path}: {error}; check the --ca-dir path and its permissions")]
    Io {
        action: &'static str,
        path: PathBuf,
        error: std::io::Error,
    },
    #[error(
        "{dir} holds {present} but not {missing}: add the missing files (Istio's cacerts: \
         ca-cert.pem, ca-key.pem, cert-chain.pem, root-cert.pem) or empty the directory to \
         create a new root CA there"
    )]
    Incomplete {
        dir: PathBuf,
        present: String,
        missing: String,
    },
    #[error(transparent)]
    Authority(#[from] AuthorityError),
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error(
        "{path}: {error}; remove it and mesh-control makes a new one (issued tokens stop working)"
    )]
    TokenKey { path: PathBuf, error: TokenKeyError },
}

/// Opens (or first creates) the CA in `dir`.
pub fn open(
    dir: &Path,
    trust_domain: &str,
    key_type: CaKeyType,
    now: SystemTime,
) -> Result<OpenedCaDir, CaDirError> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(io("create the directory", dir))?;
    let has = |name: &str| dir.join(name).exists();
    let created_root = if !has(CA_CERT) && !has(ROOT_CERT) {
        create_root(dir, trust_domain, key_type, now)?
    } else {
        false
    };
    let missing: Vec<&str> = [CA_CERT, CA_KEY, ROOT_CERT]
        .into_iter()
        .filter(|n| !has(n))
        .collect();
    if !missing.is_empty() {
        let present: Vec<&str> = [CA_CERT, CA_KEY, CERT_CHAIN, ROOT_CERT]
            .into_iter()
            .filter(|n| has(n))
            .collect();
        return Err(CaDirError::Incomplete {
            dir: dir.to_path_buf(),
            present: present.join(", "),
            missing: missing.join(", "),
        });
    }
    warn_if_readable_by_others(&dir.join(CA_KEY));
    let read = |name: &str| read(&dir.join(name));
    let (ca_cert, ca_key, root_cert) = (read(CA_CERT)?, read(CA_KEY)?, read(ROOT_CERT)?);
    let cert_chain = if has(CERT_CHAIN) {
        Some(read(CERT_CHAIN)?)
    } else {
        None
    };
    let prefix = format!("{}/", dir.display());
    let authority = Authority::from_files(
        CaFiles {
            ca_cert: &ca_cert,
            ca_key: &ca_key,
            cert_chain: cert_chain.as_deref(),
            root_cert: &root_cert,
            dir: &prefix,
        },
        now,
    )?;
    let token_key = token_key(dir)?;
    Ok(OpenedCaDir {
        authority,
        token_key,
        created_root,
    })
}

/// Writes a new self-signed root: with the key already in `ca-key.pem` (how an RSA
/// root is made, since ring generates none) or a new one of `key_type`. False when
/// another mesh-control made one at the same moment.
fn create_root(
    dir: &Path,
    trust_domain: &str,
    key_type: CaKeyType,
    now: SystemTime,
) -> Result<bool, CaDirError> {
    let key_path = dir.join(CA_KEY);
    let placed_key = key_path.exists();
    let key = if placed_key {
        key::from_pem(&read(&key_path)?, &key_path.display().to_string())?
    } else {
        key::generate(key_type)?
    };
    let NewRoot { key_pem, cert_pem } = new_root(&key, trust_domain, now)?;
    let root = cert_pem;
    if !placed_key && !write_new(&key_path, key_pem.as_bytes())? {
        // Another process won the race: wait for its certificates, then read them.
        wait_for(&dir.join(ROOT_CERT));
        return Ok(false);
    }
    // root-cert.pem last: its presence says the CA is complete.
    for name in [CA_CERT, CERT_CHAIN, ROOT_CERT] {
        write_replace(&dir.join(name), root.as_bytes())?;
    }
    Ok(true)
}

/// The token key, made on first use.
fn token_key(dir: &Path) -> Result<TokenKey, CaDirError> {
    let path = dir.join(TOKEN_KEY);
    let bad = |error| CaDirError::TokenKey {
        path: path.clone(),
        error,
    };
    if !path.exists() {
        let (key, key_pem) = new_token_key().map_err(bad)?;
        if write_new(&path, key_pem.as_bytes())? {
            return Ok(key);
        }
    }
    warn_if_readable_by_others(&path);
    let text = read(&path)?;
    token_key_from_pem(&text, &path.display().to_string()).map_err(bad)
}

/// A new self-signed root: the PEM of `key` (`ca-key.pem`) and of its certificate
/// (what `ca-cert.pem`, `cert-chain.pem` and `root-cert.pem` hold). Shared by the
/// directory and the Kubernetes Secret, so that both make the same root.
pub fn new_root(
    key: &rcgen::KeyPair,
    trust_domain: &str,
    now: SystemTime,
) -> Result<NewRoot, AuthorityError> {
    Ok(NewRoot {
        key_pem: key.serialize_pem(),
        cert_pem: pem("CERTIFICATE", &self_signed_root(key, trust_domain, now)?),
    })
}

/// A new token key and its PEM (PKCS#8) to keep.
pub fn new_token_key() -> Result<(TokenKey, String), TokenKeyError> {
    let (key, der) = TokenKey::generate()?;
    Ok((key, pem("PRIVATE KEY", &der)))
}

/// The token key in `text`; `what` names where it came from in errors.
pub fn token_key_from_pem(text: &[u8], what: &str) -> Result<TokenKey, TokenKeyError> {
    let key =
        mesh_tls::private_key_from_pem(text, what).map_err(|e| TokenKeyError(e.to_string()))?;
    TokenKey::from_pkcs8(key.secret_der())
}

/// Creates `path` with `contents`, readable by the owner only; false if it exists.
fn write_new(path: &Path, contents: &[u8]) -> Result<bool, CaDirError> {
    let file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path);
    let mut file = match file {
        Ok(file) => file,
        Err(e) if e.kind() == ErrorKind::AlreadyExists => return Ok(false),
        Err(e) => return Err(io("create", path)(e)),
    };
    file.write_all(contents)
        .and_then(|()| file.sync_all())
        .map_err(io("write", path))?;
    Ok(true)
}

/// Replaces `path` whole (through a temporary file), so that a reader never sees half.
fn write_replace(path: &Path, contents: &[u8]) -> Result<(), CaDirError> {
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    fs::write(&tmp, contents).map_err(io("write", &tmp))?;
    fs::rename(&tmp, path).map_err(io("rename into place", path))
}

fn read(path: &Path) -> Result<Vec<u8>, CaDirError> {
    fs::read(path).map_err(io("read", path))
}

fn io<'a>(action: &'static str, path: &'a Path) -> impl Fn(std::io::Error) -> CaDirError + 'a {
    move |error| CaDirError::Io {
        action,
        path: path.to_path_buf(),
        error,
    }
}

fn wait_for(path: &Path) {
    for _ in 0..50 {
        if path.exists() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn warn_if_readable_by_others(path: &Path) {
    if let Ok(meta) = fs::metadata(path)
        && meta.permissions().mode() & 0o077 != 0
    {
        tracing::warn!(
            file = %path.display(),
            mode = format!("{:o}", meta.permissions().mode() & 0o777),
            "a CA private key is readable by others; `chmod 600` it"
        );
    }
}

#[cfg(test)]
mod tests;

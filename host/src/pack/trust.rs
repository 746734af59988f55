//! Signed packs: `hie pack keygen` makes an ed25519 key pair, `hie pack sign` writes a
//! pack's signature beside it (`<pack>.so.sig`), and an engine given trusted public keys
//! (`--trusted-keys FILE`) refuses any pack whose signature is missing or does not verify
//! against one of them, saying which; the version running keeps serving.
//!
//! # Invariants
//! - What is signed is the pack's SHA-256, with a domain prefix: the signature covers
//!   exactly the bytes that are staged and loaded (a staged copy has the same hash).
//! - The packs beside the `hie` binary are part of the installation and are trusted as
//!   the binary is; every other pack must be signed once trust is configured.
//!
//! Key files are text: `ed25519-secret <64 hex digits>` or `ed25519-public <64 hex
//! digits>`, one key per line, `#` starts a comment. Signature files hold
//! `ed25519 <128 hex digits> key <64 hex digits of the public key>`.

use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use std::path::{Path, PathBuf};

/// What a signature covers, before the pack's hex SHA-256.
const DOMAIN: &[u8] = b"hie-pack-signature-v1\n";

/// The public keys packs must be signed with.
#[derive(Clone, Debug)]
pub struct Trust {
    keys: Vec<VerifyingKey>,
    /// Where they came from (for messages).
    pub file: PathBuf,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex<const N: usize>(text: &str) -> Option<[u8; N]> {
    let text = text.trim();
    if text.len() != N * 2 {
        return None;
    }
    let mut out = [0u8; N];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(text.get(i * 2..i * 2 + 2)?, 16).ok()?;
    }
    Some(out)
}

/// The lines of a key file that carry `kind` keys, as bytes; an error names the line.
fn key_lines<const N: usize>(file: &Path, kind: &str) -> Result<Vec<[u8; N]>, String> {
    let text = std::fs::read_to_string(file).map_err(|e| format!("cannot read key file {}: {e}", file.display()))?;
    let mut keys = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let value = line
            .strip_prefix(kind)
            .map(str::trim)
            .ok_or_else(|| format!("{}:{}: expected `{kind} <hex>`, found {line:?}", file.display(), n + 1))?;
        keys.push(unhex::<N>(value).ok_or_else(|| format!("{}:{}: not a {} key", file.display(), n + 1, kind))?);
    }
    Ok(keys)
}

impl Trust {
    /// Reads the trusted public keys from `file` (at least one).
    pub fn load(file: &Path) -> Result<Trust, String> {
        let keys = key_lines::<32>(file, "ed25519-public")?
            .into_iter()
            .enumerate()
            .map(|(i, k)| {
                VerifyingKey::from_bytes(&k).map_err(|e| format!("{}: key {} is not valid: {e}", file.display(), i + 1))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if keys.is_empty() {
            return Err(format!("{}: no trusted keys in the file", file.display()));
        }
        Ok(Trust { keys, file: file.to_path_buf() })
    }

    /// Checks the signature beside `pack` (whose SHA-256 is `sha256`): `Ok` when it
    /// verifies against a trusted key, else why not.
    pub fn check(&self, pack: &Path, sha256: &str) -> Result<(), String> {
        let sig_path = signature_path(pack);
        let text = std::fs::read_to_string(&sig_path).map_err(|_| {
            format!("pack is not signed ({} is missing) and this engine only loads signed packs", sig_path.display())
        })?;
        let mut words = text.split_whitespace();
        let sig = match (words.next(), words.next()) {
            (Some("ed25519"), Some(h)) => unhex::<64>(h),
            _ => None,
        }
        .ok_or_else(|| format!("{} is not a pack signature", sig_path.display()))?;
        let signature = Signature::from_bytes(&sig);
        let message = [DOMAIN, sha256.as_bytes()].concat();
        if self.keys.iter().any(|k| k.verify(&message, &signature).is_ok()) {
            Ok(())
        } else {
            Err(format!(
                "pack signature {} does not verify against any key in {} (signed by another key, or the pack changed after signing)",
                sig_path.display(),
                self.file.display()
            ))
        }
    }
}

/// Where a pack's signature lives.
pub fn signature_path(pack: &Path) -> PathBuf {
    let mut name = pack.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".sig");
    pack.with_file_name(name)
}

/// Signs `pack` with the secret key in `key_file`; returns the signature file written.
pub fn sign(pack: &Path, key_file: &Path) -> Result<PathBuf, String> {
    let secret = key_lines::<32>(key_file, "ed25519-secret")?
        .into_iter()
        .next()
        .ok_or_else(|| format!("{}: no secret key in the file", key_file.display()))?;
    let key = SigningKey::from_bytes(&secret);
    let sha = super::sha256_file(pack).map_err(|e| format!("cannot read {}: {e}", pack.display()))?;
    let signature = key.sign(&[DOMAIN, sha.as_bytes()].concat());
    let out = signature_path(pack);
    let text = format!("ed25519 {} key {}\n", hex(&signature.to_bytes()), hex(key.verifying_key().as_bytes()));
    let tmp = out.with_extension("sig.tmp");
    std::fs::write(&tmp, text).map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, &out).map_err(|e| format!("cannot write {}: {e}", out.display()))?;
    Ok(out)
}

/// Makes a key pair: `<prefix>.secret` (mode 600) and `<prefix>.public`.
pub fn keygen(prefix: &Path) -> Result<(PathBuf, PathBuf), String> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| format!("no randomness for a key: {e}"))?;
    let key = SigningKey::from_bytes(&seed);
    let secret = prefix.with_extension("secret");
    let public = prefix.with_extension("public");
    {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new()
            .create_new(true)
            .write(true)
            .mode(0o600)
            .open(&secret)
            .map_err(|e| format!("cannot create {}: {e}", secret.display()))?;
        writeln!(f, "# HIE pack signing key: keep it secret\ned25519-secret {}", hex(&seed))
            .map_err(|e| format!("cannot write {}: {e}", secret.display()))?;
    }
    std::fs::write(
        &public,
        format!(
            "# HIE pack signing key (public): give to --trusted-keys\ned25519-public {}\n",
            hex(key.verifying_key().as_bytes())
        ),
    )
    .map_err(|e| format!("cannot write {}: {e}", public.display()))?;
    Ok((secret, public))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("hie-trust-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).expect("dir");
        d
    }

    #[test]
    fn a_signed_pack_verifies_and_a_changed_unsigned_or_foreign_one_does_not() {
        let d = temp("sign");
        let (secret, public) = keygen(&d.join("vendor")).expect("keygen");
        let (_, other) = keygen(&d.join("other")).expect("keygen");
        let pack = d.join("libpack.so");
        std::fs::write(&pack, b"pack bytes").expect("pack");
        let trust = Trust::load(&public).expect("trust");
        let sha = |p: &Path| crate::pack::sha256_file(p).expect("sha");
        assert!(trust.check(&pack, &sha(&pack)).unwrap_err().contains("not signed"));
        sign(&pack, &secret).expect("sign");
        assert_eq!(trust.check(&pack, &sha(&pack)), Ok(()));
        assert!(Trust::load(&other).expect("trust").check(&pack, &sha(&pack)).unwrap_err().contains("does not verify"));
        std::fs::write(&pack, b"pack bytes, changed").expect("pack");
        assert!(trust.check(&pack, &sha(&pack)).unwrap_err().contains("does not verify"));
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn key_files_with_a_bad_line_are_refused_naming_the_line() {
        let d = temp("bad");
        let f = d.join("keys");
        std::fs::write(&f, "# trusted\ned25519-public 00\n").expect("keys");
        assert!(Trust::load(&f).unwrap_err().contains(":2: not a ed25519-public key"));
        let _ = std::fs::remove_dir_all(&d);
    }
}

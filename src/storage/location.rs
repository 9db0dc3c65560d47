//! Locations of tables and releases.

use std::path::{Path, PathBuf};

use super::StorageError;
use super::remote::{RemoteUrl, SCHEMES};

/// A resolved location: a local path or an object-store URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A path on the local file system, absolute or relative to the working directory.
    Local(PathBuf),
    /// `s3://`, `gs://`, `az://` or `http(s)://`, reached through object_store.
    Remote(RemoteUrl),
}

impl Location {
    /// Parses a path or URL as written in a pipeline; relative paths resolve against `base`.
    pub fn parse(text: &str, base: &Path) -> Result<Self, StorageError> {
        let path = if let Some(rest) = text.strip_prefix("file://") {
            PathBuf::from(rest)
        } else if let Some((scheme, _)) = text.split_once("://") {
            if SCHEMES.contains(&scheme) {
                return Ok(Location::Remote(RemoteUrl::parse(text)?));
            }
            return Err(StorageError::UnsupportedScheme {
                url: redact_url(text),
                scheme: scheme.to_owned(),
            });
        } else {
            PathBuf::from(text)
        };
        if path.as_os_str().is_empty() {
            return Err(StorageError::NotFound { path });
        }
        Ok(Location::Local(if path.is_absolute() {
            path
        } else {
            base.join(path)
        }))
    }

    /// The local path, when the location is local.
    pub fn local(&self) -> Option<&Path> {
        match self {
            Location::Local(path) => Some(path),
            Location::Remote(_) => None,
        }
    }

    /// A location below this one.
    pub fn join(&self, part: &str) -> Location {
        match self {
            Location::Local(path) => Location::Local(path.join(part)),
            Location::Remote(url) => Location::Remote(url.join(part)),
        }
    }

    /// Whether this location is `other` or lies below it (lexically).
    pub fn is_inside(&self, other: &Location) -> bool {
        match (self, other) {
            (Location::Local(a), Location::Local(b)) => normalise(a).starts_with(normalise(b)),
            (Location::Remote(a), Location::Remote(b)) => {
                let (a, b) = (a.to_string(), b.to_string());
                let b = b.trim_end_matches('/');
                a == b || a.starts_with(&format!("{b}/"))
            }
            _ => false,
        }
    }
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Location::Local(path) => write!(f, "{}", path.display()),
            Location::Remote(url) => write!(f, "{url}"),
        }
    }
}

/// Lexical normalisation (no file system access): drops `.` and folds `..`.
fn normalise(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// A URL with any `user:password@` part and any query removed, safe to print.
pub(super) fn redact_url(url: &str) -> String {
    let url = url.split(['?', '#']).next().unwrap_or(url);
    match url.split_once("://") {
        Some((scheme, rest)) => match rest.split_once('@') {
            Some((_, host)) if !rest.split('/').next().unwrap_or("").is_empty() => {
                format!("{scheme}://***@{host}")
            }
            _ => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_resolve_against_the_base() {
        let location = Location::parse("data/x.parquet", Path::new("/pipelines")).unwrap();
        assert_eq!(
            location.local(),
            Some(Path::new("/pipelines/data/x.parquet"))
        );
        let url = Location::parse("file:///abs/x.parquet", Path::new("/pipelines")).unwrap();
        assert_eq!(url.local(), Some(Path::new("/abs/x.parquet")));
    }

    #[test]
    fn object_store_schemes_parse_and_others_are_refused_without_credentials() {
        let remote = Location::parse("s3://bucket/releases", Path::new("/")).unwrap();
        assert_eq!(remote.to_string(), "s3://bucket/releases");
        assert!(remote.local().is_none());
        assert!(remote.join("run").is_inside(&remote));
        let other = Location::parse("s3://bucket/releases-2", Path::new("/")).unwrap();
        assert!(!other.is_inside(&remote));
        let error = Location::parse("s3://key:secret@bucket/x", Path::new("/")).unwrap_err();
        let message = error.to_string();
        assert!(message.contains("s3://"), "{message}");
        assert!(!message.contains("secret"), "{message}");
        let error = Location::parse("ftp://user:secret@host/x", Path::new("/")).unwrap_err();
        let message = error.to_string();
        assert!(message.contains("ftp://"), "{message}");
        assert!(!message.contains("secret"), "{message}");
    }

    #[test]
    fn inside_is_lexical() {
        let out = Location::Local(PathBuf::from("/a/out"));
        assert!(Location::Local(PathBuf::from("/a/out/./x")).is_inside(&out));
        assert!(!Location::Local(PathBuf::from("/a/out/../stage")).is_inside(&out));
    }
}

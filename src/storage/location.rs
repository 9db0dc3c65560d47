//! Locations of tables and releases.

use std::path::{Path, PathBuf};

use super::StorageError;

/// A resolved location. Only the local file system is reachable in this version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A path on the local file system, absolute or relative to the working directory.
    Local(PathBuf),
}

impl Location {
    /// Parses a path or URL as written in a pipeline; relative paths resolve against `base`.
    pub fn parse(text: &str, base: &Path) -> Result<Self, StorageError> {
        let path = if let Some(rest) = text.strip_prefix("file://") {
            PathBuf::from(rest)
        } else if let Some((scheme, _)) = text.split_once("://") {
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

    /// The local path.
    pub fn path(&self) -> &Path {
        match self {
            Location::Local(path) => path,
        }
    }

    /// A location below this one.
    pub fn join(&self, part: &str) -> Location {
        Location::Local(self.path().join(part))
    }

    /// Whether this location is `other` or lies below it.
    pub fn is_inside(&self, other: &Location) -> bool {
        normalise(self.path()).starts_with(normalise(other.path()))
    }
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.path().display())
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

/// A URL with any `user:password@` part removed, safe to print.
fn redact_url(url: &str) -> String {
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
        assert_eq!(location.path(), Path::new("/pipelines/data/x.parquet"));
        let url = Location::parse("file:///abs/x.parquet", Path::new("/pipelines")).unwrap();
        assert_eq!(url.path(), Path::new("/abs/x.parquet"));
    }

    #[test]
    fn remote_schemes_are_refused_without_credentials_in_the_message() {
        let error = Location::parse("s3://key:secret@bucket/x", Path::new("/")).unwrap_err();
        let message = error.to_string();
        assert!(message.contains("s3://"), "{message}");
        assert!(!message.contains("secret"), "{message}");
    }

    #[test]
    fn inside_is_lexical() {
        let out = Location::Local(PathBuf::from("/a/out"));
        assert!(Location::Local(PathBuf::from("/a/out/./x")).is_inside(&out));
        assert!(!Location::Local(PathBuf::from("/a/out/../stage")).is_inside(&out));
    }
}

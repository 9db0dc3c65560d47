//! `${VAR}` in the pipeline's strings: values such as bucket names come from the environment,
//! so one pipeline file serves every environment. `$${` writes a literal `${`.
//!
//! Guarantee: an unset or malformed variable is an error naming the key and the variable,
//! never an empty string; expanded values appear in no message.

/// What went wrong in one string.
#[derive(Debug, PartialEq, Eq)]
pub enum ExpandError {
    /// `${NAME}` with NAME not set in the environment
    Unset(String),
    /// `${` without a closing `}`, or a name that is not `[A-Za-z_][A-Za-z0-9_]*`
    Malformed,
}

fn is_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// `text` with every `${NAME}` replaced by `lookup(NAME)`.
pub fn expand(text: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<String, ExpandError> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at..];
        if let Some(tail) = after.strip_prefix("$${") {
            out.push_str("${");
            rest = tail;
        } else if let Some(tail) = after.strip_prefix("${") {
            let end = tail.find('}').ok_or(ExpandError::Malformed)?;
            let name = &tail[..end];
            if !is_name(name) {
                return Err(ExpandError::Malformed);
            }
            out.push_str(&lookup(name).ok_or_else(|| ExpandError::Unset(name.to_owned()))?);
            rest = &tail[end + 1..];
        } else {
            out.push('$');
            rest = &after[1..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// Expands every string in `value`, reporting the first failure with its dotted key.
pub fn expand_value(
    value: &mut toml::Value,
    key: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<(), (String, ExpandError)> {
    match value {
        toml::Value::String(text) => {
            *text = expand(text, lookup).map_err(|e| (key.to_owned(), e))?;
        }
        toml::Value::Array(items) => {
            for (index, item) in items.iter_mut().enumerate() {
                expand_value(item, &format!("{key}[{index}]"), lookup)?;
            }
        }
        toml::Value::Table(table) => {
            for (name, item) in table.iter_mut() {
                let path = if key.is_empty() {
                    name.clone()
                } else {
                    format!("{key}.{name}")
                };
                expand_value(item, &path, lookup)?;
            }
        }
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "BUCKET" => Some("releases".to_owned()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    #[test]
    fn variables_expand_and_escapes_stay_literal() {
        assert_eq!(
            expand("s3://${BUCKET}/adult", &env).unwrap(),
            "s3://releases/adult"
        );
        assert_eq!(
            expand("${BUCKET}${EMPTY}-${BUCKET}", &env).unwrap(),
            "releases-releases"
        );
        assert_eq!(
            expand("cost $5 and $${BUCKET}", &env).unwrap(),
            "cost $5 and ${BUCKET}"
        );
        assert_eq!(expand("no variables", &env).unwrap(), "no variables");
    }

    #[test]
    fn unset_and_malformed_variables_are_errors() {
        assert_eq!(
            expand("${MISSING}", &env),
            Err(ExpandError::Unset("MISSING".to_owned()))
        );
        assert_eq!(expand("${BUCKET", &env), Err(ExpandError::Malformed));
        assert_eq!(expand("${1X}", &env), Err(ExpandError::Malformed));
    }

    #[test]
    fn errors_name_the_dotted_key() {
        let mut value: toml::Value =
            toml::from_str("[output]\nurl = \"out/${MISSING}\"\n[[check]]\nsql = \"${BUCKET}\"\n")
                .unwrap();
        let error = expand_value(&mut value, "", &env).unwrap_err();
        assert_eq!(
            error,
            (
                "output.url".to_owned(),
                ExpandError::Unset("MISSING".to_owned())
            )
        );
    }
}

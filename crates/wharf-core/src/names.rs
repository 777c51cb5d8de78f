//! Names that end up in paths, URLs and `Release` files: repositories, snapshots,
//! distributions, components, publish prefixes and Debian architectures. One definition,
//! shared by `wharf.toml` (`[[repositories]]`) and the commands that create them.

/// Letters, digits, `.`, `_`, `+`, `-`, starting with a letter or digit, at most 100
/// bytes. The error names `what` and the value, and says what is allowed.
pub fn check_name(what: &str, name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 100
        && name.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"._+-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "invalid {what} {name:?}: use letters, digits, '.', '_', '+' and '-', starting with a letter or digit"
        ))
    }
}

/// A Debian architecture name (`amd64`, `arm64`, `all`, `musl-linux-amd64`), not a
/// wildcard (`any`, `linux-any`).
pub fn check_architecture(arch: &str) -> Result<(), String> {
    let valid = !arch.is_empty()
        && arch.bytes().next().is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        && arch.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && arch != "any"
        && !arch.ends_with("-any");
    if valid {
        Ok(())
    } else {
        Err(format!("architecture {arch:?} is not a Debian architecture name"))
    }
}

/// A repository's architecture: a Debian architecture that is not `all` (`all` packages
/// are listed under every architecture).
pub fn check_repository_architecture(arch: &str) -> Result<(), String> {
    check_architecture(arch)?;
    if arch == "all" {
        return Err(
            "`all` is not a repository architecture: `all` packages are listed under every architecture"
                .to_owned(),
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_safe_in_paths_and_urls() {
        for good in ["bookworm-tools", "a", "tools_1.0+b1", "0day"] {
            assert_eq!(check_name("name", good), Ok(()), "{good}");
        }
        let long = "x".repeat(101);
        for bad in ["", ".hidden", "-flag", "a/b", "a b", "ü", "..", long.as_str()] {
            let err = check_name("repository name", bad).unwrap_err();
            assert!(err.starts_with("invalid repository name"), "{err}");
        }
    }

    #[test]
    fn repository_architectures() {
        assert!(check_repository_architecture("all").unwrap_err().contains("every architecture"));
        assert!(check_repository_architecture("any").unwrap_err().contains("not a Debian"));
        assert_eq!(check_repository_architecture("arm64"), Ok(()));
    }
}

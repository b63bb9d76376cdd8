//! Settings from a file: `NAME=value` lines using the environment variable names of the
//! settings (`KEYSHARD_LISTEN=...`), read from the file `KEYSHARD_CONFIG` names. A file value is
//! used only where neither a flag nor the environment sets the setting, so the order of
//! precedence is flag, environment, file, built-in default.

use std::collections::BTreeMap;
use std::path::PathBuf;

use clap::Command;

/// Variable naming the settings file.
pub(crate) const CONFIG_ENV: &str = "KEYSHARD_CONFIG";

/// A settings file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConfigFileError {
    #[error("cannot read the settings file {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("{path}:{line}: expected NAME=value")]
    Syntax { path: PathBuf, line: usize },

    #[error("{path}: no setting is called {name}")]
    Unknown { path: PathBuf, name: String },
}

/// Makes the values of the settings file at `path`, if any, the defaults of the matching
/// arguments of every subcommand.
pub(crate) fn apply(command: Command, path: Option<PathBuf>) -> Result<Command, ConfigFileError> {
    let Some(path) = path else {
        return Ok(command);
    };
    let text = std::fs::read_to_string(&path).map_err(|source| ConfigFileError::Read {
        path: path.clone(),
        source,
    })?;
    let settings = parse(&text).map_err(|line| ConfigFileError::Syntax {
        path: path.clone(),
        line,
    })?;

    // (subcommand, argument id, environment variable) of every setting.
    let mut targets = Vec::new();
    for sub in command.get_subcommands() {
        for arg in sub.get_arguments() {
            if let Some(env) = arg.get_env().and_then(|e| e.to_str()) {
                targets.push((
                    sub.get_name().to_owned(),
                    arg.get_id().to_string(),
                    env.to_owned(),
                ));
            }
        }
    }
    if let Some(name) = settings
        .keys()
        .find(|name| !targets.iter().any(|(_, _, env)| env == *name))
    {
        return Err(ConfigFileError::Unknown {
            path,
            name: name.clone(),
        });
    }

    let mut command = command;
    for (sub, id, env) in targets {
        if let Some(value) = settings.get(&env) {
            // Read once at start-up and kept for the life of the process.
            let value: &'static str = Box::leak(value.clone().into_boxed_str());
            command = command.mut_subcommand(sub, |s| {
                s.mut_arg(id, |a| a.default_value(value).required(false))
            });
        }
    }
    Ok(command)
}

/// `NAME=value` lines; blank lines and lines starting with `#` are skipped. Returns the number
/// of the first malformed line.
fn parse(text: &str) -> Result<BTreeMap<String, String>, usize> {
    let mut settings = BTreeMap::new();
    for (index, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (name, value) = line.split_once('=').ok_or(index + 1)?;
        let name = name.trim();
        if name.is_empty() {
            return Err(index + 1);
        }
        settings.insert(name.to_owned(), value.trim().to_owned());
    }
    Ok(settings)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_lines_parse_and_comments_are_skipped() {
        let parsed =
            parse("# shard settings\nKEYSHARD_LISTEN = 127.0.0.1:9\n\nKEYSHARD_MIGRATE=true\n");
        let expected: BTreeMap<String, String> = [
            ("KEYSHARD_LISTEN".to_owned(), "127.0.0.1:9".to_owned()),
            ("KEYSHARD_MIGRATE".to_owned(), "true".to_owned()),
        ]
        .into();
        assert_eq!(parsed, Ok(expected));
    }

    fn command() -> Command {
        Command::new("keyshard").subcommand(
            Command::new("gateway")
                .arg(
                    clap::Arg::new("listen")
                        .long("listen")
                        .env("KEYSHARD_LISTEN")
                        .default_value("127.0.0.1:8300"),
                )
                .arg(
                    clap::Arg::new("shards")
                        .long("shards")
                        .env("KEYSHARD_SHARDS")
                        .required(true),
                ),
        )
    }

    fn file(text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keyshard.conf");
        std::fs::write(&path, text).unwrap();
        (dir, path)
    }

    #[test]
    fn file_values_fill_in_what_flags_do_not_set() {
        let (_dir, path) = file("KEYSHARD_SHARDS=10.0.0.1:8400\nKEYSHARD_LISTEN=0.0.0.0:9\n");
        let matches = apply(command(), Some(path))
            .unwrap()
            .try_get_matches_from(["keyshard", "gateway", "--listen", "127.0.0.1:1"])
            .unwrap();
        let gateway = matches.subcommand_matches("gateway").unwrap();
        assert_eq!(
            gateway.get_one::<String>("shards").map(String::as_str),
            Some("10.0.0.1:8400")
        );
        assert_eq!(
            gateway.get_one::<String>("listen").map(String::as_str),
            Some("127.0.0.1:1")
        );
    }

    #[test]
    fn an_unknown_setting_is_refused() {
        let (_dir, path) = file("KEYSHARD_LISTN=1\n");
        assert!(matches!(
            apply(command(), Some(path)),
            Err(ConfigFileError::Unknown { name, .. }) if name == "KEYSHARD_LISTN"
        ));
    }

    #[test]
    fn a_line_without_a_name_and_value_is_refused_by_number() {
        assert_eq!(parse("KEYSHARD_LISTEN=1\nlisten\n"), Err(2));
        assert_eq!(parse("=value\n"), Err(1));
    }
}

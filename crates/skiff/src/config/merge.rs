//! The pure part of the config file: a YAML mapping whose keys are long flag names
//! becomes the command-line arguments for the flags the user did not already set
//! on the command line or in the environment. Appending those arguments and letting
//! clap parse once more gives the precedence flag > environment > file > default,
//! and clap's own value parsers check the file's values like typed ones.

use serde_yaml::Value;

/// How a flag takes its value, as far as the config file cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A switch (`--disable-agent`): `true` or `false` in the file.
    Switch,
    /// One value (`--data-dir /x`): a string or number in the file.
    One,
    /// A list (`--disable-controllers a,b`): a YAML list or one comma-separated string.
    Many,
}

/// One long flag of a subcommand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flag {
    /// Without the leading `--`: `data-dir`.
    pub long: String,
    pub kind: Kind,
}

/// What is wrong with a config file (its path is added by the caller).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    /// The file is not YAML.
    #[error("not valid YAML: {0}")]
    Yaml(String),
    /// The top level is not a mapping of flag names to values.
    #[error("expected a mapping of flag names to values (`data-dir: /var/lib/skiff/server`)")]
    NotAMapping,
    /// A key that is not a long flag of this subcommand.
    #[error("unknown key `{key}`: `skiff {command}` has no flag `--{key}` (see `skiff {command} --help`)")]
    UnknownKey { key: String, command: String },
    /// A key whose value has the wrong shape for its flag.
    #[error("`{key}`: {why}")]
    BadValue { key: String, why: &'static str },
}

/// Parses the file's text; an empty file (or only comments) sets nothing.
///
/// # Errors
/// [`Error::Yaml`] or [`Error::NotAMapping`].
pub fn parse(text: &str) -> Result<serde_yaml::Mapping, Error> {
    match serde_yaml::from_str::<Value>(text).map_err(|e| Error::Yaml(e.to_string()))? {
        Value::Null => Ok(Default::default()),
        Value::Mapping(m) => Ok(m),
        _ => Err(Error::NotAMapping),
    }
}

/// The arguments (`--data-dir=/x`, `--disable-agent`) that set what `config` sets,
/// leaving out the flags for which `given` is true (set on the command line or in
/// the environment, which win over the file). Keys are checked against `flags`
/// whether given or not, so a typo is caught on every start.
///
/// # Errors
/// [`Error::UnknownKey`] for a key that is not a flag in `flags`,
/// [`Error::BadValue`] for a value of the wrong shape (`true` for a path, a list
/// for a single-valued flag, a mapping anywhere).
pub fn to_args(
    config: &serde_yaml::Mapping,
    command: &str,
    flags: &[Flag],
    given: impl Fn(&str) -> bool,
) -> Result<Vec<String>, Error> {
    let mut args = Vec::new();
    for (key, value) in config {
        let key = match key {
            Value::String(k) => k.as_str(),
            _ => return Err(Error::NotAMapping),
        };
        let unknown = || Error::UnknownKey { key: key.to_string(), command: command.to_string() };
        let flag = flags.iter().find(|f| f.long == key).ok_or_else(unknown)?;
        let bad = |why| Error::BadValue { key: key.to_string(), why };
        let values: Vec<String> = match (flag.kind, value) {
            (Kind::Switch, Value::Bool(true)) => {
                if !given(key) {
                    args.push(format!("--{key}"));
                }
                continue;
            }
            (Kind::Switch, Value::Bool(false)) => continue,
            (Kind::Switch, _) => return Err(bad("expected true or false")),
            (_, Value::Null) => return Err(bad("has no value")),
            (Kind::Many, Value::Sequence(items)) => items
                .iter()
                .map(|v| scalar(v).ok_or_else(|| bad("expected a list of strings or numbers")))
                .collect::<Result<_, _>>()?,
            (Kind::One, Value::Sequence(_)) => return Err(bad("takes one value, not a list")),
            (_, v) => vec![scalar(v).ok_or_else(|| bad("expected a string or a number"))?],
        };
        if !given(key) {
            args.extend(values.into_iter().map(|v| format!("--{key}={v}")));
        }
    }
    Ok(args)
}

/// A YAML scalar as the command line would spell it.
fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags() -> Vec<Flag> {
        [("data-dir", Kind::One), ("https-listen-port", Kind::One), ("disable-agent", Kind::Switch)]
            .into_iter()
            .chain([("disable-controllers", Kind::Many), ("disable-dns", Kind::Switch)])
            .map(|(long, kind)| Flag { long: long.into(), kind })
            .collect()
    }

    fn args(yaml: &str, given: &[&str]) -> Result<Vec<String>, Error> {
        to_args(&parse(yaml)?, "server", &flags(), |k| given.contains(&k))
    }

    #[test]
    fn keys_become_flags_with_their_values() {
        let got = args("data-dir: /x\nhttps-listen-port: 7443\ndisable-agent: true\ndisable-dns: false\n", &[]);
        assert_eq!(got.unwrap(), ["--data-dir=/x", "--https-listen-port=7443", "--disable-agent"]);
    }

    #[test]
    fn a_list_is_a_list_or_one_comma_separated_string() {
        assert_eq!(
            args("disable-controllers: [deployment, replicaset]", &[]).unwrap(),
            ["--disable-controllers=deployment", "--disable-controllers=replicaset"]
        );
        assert_eq!(
            args("disable-controllers: \"deployment,replicaset\"", &[]).unwrap(),
            ["--disable-controllers=deployment,replicaset"]
        );
        assert_eq!(args("disable-controllers: []", &[]).unwrap(), Vec::<String>::new());
    }

    #[test]
    fn flags_set_on_the_command_line_or_in_the_environment_win() {
        let got = args("data-dir: /x\ndisable-controllers: [a]\ndisable-agent: true\n", &["data-dir", "disable-agent"]);
        assert_eq!(got.unwrap(), ["--disable-controllers=a"]);
    }

    #[test]
    fn an_unknown_key_is_named() {
        let err = args("data-dir: /x\ndata_dir: /y\n", &[]).unwrap_err();
        assert_eq!(err, Error::UnknownKey { key: "data_dir".into(), command: "server".into() });
        assert!(err.to_string().contains("unknown key `data_dir`"), "{err}");
        // Even when the same flag is also given on the command line.
        assert!(matches!(args("nope: 1", &["nope"]), Err(Error::UnknownKey { .. })));
    }

    #[test]
    fn values_of_the_wrong_shape_are_refused() {
        let bad = |yaml: &str| match args(yaml, &[]) {
            Err(Error::BadValue { key, .. }) => key,
            other => panic!("{yaml}: {other:?}"),
        };
        assert_eq!(bad("disable-agent: \"yes\""), "disable-agent");
        assert_eq!(bad("data-dir: [a, b]"), "data-dir");
        assert_eq!(bad("data-dir:"), "data-dir");
        assert_eq!(bad("data-dir: {a: b}"), "data-dir");
        assert_eq!(bad("disable-controllers: [[a]]"), "disable-controllers");
    }

    #[test]
    fn the_file_must_be_a_mapping() {
        assert_eq!(parse("").unwrap().len(), 0);
        assert_eq!(parse("# only a comment\n").unwrap().len(), 0);
        assert_eq!(parse("- data-dir").unwrap_err(), Error::NotAMapping);
        assert!(matches!(parse("a: [b"), Err(Error::Yaml(_))));
        assert_eq!(args("1: x", &[]).unwrap_err(), Error::NotAMapping);
    }
}

//! The config file of `skiff server` and `skiff agent` (`--config FILE`, `SKIFF_CONFIG`,
//! else `/etc/skiff/config.yaml` when it exists, like k3s's
//! `/etc/rancher/k3s/config.yaml`): YAML whose keys are the long flag names.
//!
//! The command line is parsed twice. A first, forgiving pass (a required flag may
//! still come from the file) tells which flags the command line and the environment
//! already set; the file's settings for the others are added as arguments and the
//! second pass is the real one, so every value goes through the flag's own parser.

mod merge;

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use clap::parser::ValueSource;
use clap::{ArgAction, CommandFactory};

pub use merge::{Flag, Kind};

/// Read when neither `--config` nor `SKIFF_CONFIG` names a file, if it exists.
pub const DEFAULT_PATH: &str = "/etc/skiff/config.yaml";

/// The subcommands that read a config file.
const COMMANDS: [&str; 2] = ["server", "agent"];

/// A config file that cannot be used; skiff exits with 1 and this message.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read the config file {path}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("config file {path}: {problem}")]
    Invalid { path: PathBuf, problem: merge::Error },
}

/// The command line to parse, with what the config file added.
pub struct Applied {
    pub argv: Vec<OsString>,
    /// The file that was read, if any.
    pub file: Option<PathBuf>,
    /// The arguments the file added (`--data-dir=/x`).
    pub added: Vec<String>,
}

/// Adds the config file's settings to `argv` for the flags it does not set itself.
///
/// # Errors
/// The file named by `--config`/`SKIFF_CONFIG` cannot be read, or any file read
/// is not YAML, has a key that is not a flag, or a value of the wrong shape.
pub fn apply(argv: Vec<OsString>) -> Result<Applied, Error> {
    let unchanged = |argv| Ok(Applied { argv, file: None, added: vec![] });
    let Ok(matches) = crate::cli::Cli::command().ignore_errors(true).try_get_matches_from(&argv) else {
        return unchanged(argv); // --help, --version: the real parse prints them
    };
    let Some((name, sub)) = matches.subcommand().filter(|(name, _)| COMMANDS.contains(name)) else {
        return unchanged(argv);
    };
    let path = match sub.get_one::<PathBuf>("config") {
        Some(path) => path.clone(),
        None if Path::new(DEFAULT_PATH).exists() => PathBuf::from(DEFAULT_PATH),
        None => return unchanged(argv),
    };
    let text = std::fs::read_to_string(&path).map_err(|source| Error::Read { path: path.clone(), source })?;
    let invalid = |problem| Error::Invalid { path: path.clone(), problem };
    let config = merge::parse(&text).map_err(invalid)?;
    let command = crate::cli::Cli::command();
    let subcommand = command.find_subcommand(name).expect("the matched subcommand exists");
    let (flags, ids): (Vec<Flag>, Vec<&str>) = subcommand
        .get_arguments()
        .filter_map(|arg| {
            let long = arg.get_long().filter(|l| !["config", "help", "version"].contains(l))?;
            let kind = match arg.get_action() {
                ArgAction::SetTrue => Kind::Switch,
                ArgAction::Append => Kind::Many,
                _ => Kind::One,
            };
            Some((Flag { long: long.to_string(), kind }, arg.get_id().as_str()))
        })
        .unzip();
    let given = |long: &str| {
        let id = flags.iter().zip(&ids).find(|(f, _)| f.long == long).map(|(_, id)| *id);
        id.and_then(|id| sub.value_source(id))
            .is_some_and(|s| matches!(s, ValueSource::CommandLine | ValueSource::EnvVariable))
    };
    let added = merge::to_args(&config, name, &flags, given).map_err(invalid)?;
    let at = argv.iter().position(|a| a == name).map_or(argv.len(), |i| i + 1);
    let mut argv = argv;
    argv.splice(at..at, added.iter().map(OsString::from));
    Ok(Applied { argv, file: Some(path), added })
}

/// Reports a command-line error; one caused by a value from the config file says
/// so and exits with 1 (a bad config file), others exit as clap does (2).
pub fn command_line_error(error: clap::Error, applied: &Applied) -> std::process::ExitCode {
    use clap::error::{ContextKind, ContextValue};
    let flag = match error.get(ContextKind::InvalidArg) {
        Some(ContextValue::String(s)) => s.split_whitespace().next().unwrap_or_default().to_string(),
        _ => String::new(),
    };
    let from_file = !flag.is_empty() && applied.added.iter().any(|a| a == &flag || a.starts_with(&format!("{flag}=")));
    match (&applied.file, from_file) {
        (Some(file), true) => {
            let _ = error.print();
            let key = flag.trim_start_matches('-');
            eprintln!("skiff: `{key}` is set in the config file {}", file.display());
            std::process::ExitCode::from(crate::exit::FAILURE)
        }
        _ => error.exit(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Command};

    /// `skiff ARGS` with the config file `yaml`, parsed as main does.
    fn parse(args: &[&str], yaml: &str) -> Result<Cli, String> {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("config.yaml");
        std::fs::write(&file, yaml).unwrap();
        let mut argv: Vec<OsString> = ["skiff"].iter().chain(args).map(OsString::from).collect();
        argv.push(format!("--config={}", file.display()).into());
        let applied = apply(argv).map_err(|e| e.to_string())?;
        <Cli as clap::Parser>::try_parse_from(applied.argv).map_err(|e| e.to_string())
    }

    fn server(args: &[&str], yaml: &str) -> crate::cli::ServerArgs {
        match parse(&[&["server"], args].concat(), yaml).unwrap().command {
            Command::Server(s) => *s,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_file_sets_what_the_command_line_does_not() {
        let yaml = "data-dir: /from/file\nhttps-listen-port: 7443\ndisable-agent: true\n\
                    disable-controllers: [deployment, replicaset]\nproxy-mode: nftables\n";
        let s = server(&["--https-listen-port", "8443"], yaml);
        assert_eq!(s.data_dir, Path::new("/from/file"));
        assert_eq!(s.https_listen_port, 8443, "the flag wins over the file");
        assert!(s.disable_agent);
        assert_eq!(s.disable_controllers, ["deployment", "replicaset"]);
        assert_eq!(s.node.proxy_mode, "nftables", "flattened flags are keys too");
        // Unset keys keep their defaults.
        assert_eq!(s.node.cluster_cidr, "10.42.0.0/16");
        let s = server(&["--disable-controllers", "job"], "disable-controllers: \"deployment,replicaset\"");
        assert_eq!(s.disable_controllers, ["job"], "a list flag is replaced, not extended");
    }

    #[test]
    fn a_required_flag_may_come_from_the_file() {
        let yaml = "server: https://10.0.0.1:6443\ntoken: t\ncertificate-authority: /ca.crt\n";
        match parse(&["agent"], yaml).unwrap().command {
            Command::Agent(a) => assert_eq!(a.server.as_deref(), Some("https://10.0.0.1:6443")),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn unknown_keys_and_bad_values_are_errors() {
        let err = parse(&["server"], "data-dri: /x\n").err().unwrap();
        assert!(err.contains("unknown key `data-dri`") && err.contains("config.yaml"), "{err}");
        // A server-only key in an agent's file.
        let err = parse(&["agent", "--kubeconfig", "/k"], "disable-scheduler: true\n").err().unwrap();
        assert!(err.contains("`skiff agent` has no flag `--disable-scheduler`"), "{err}");
        // The flag's own parser checks the value.
        let err = parse(&["server"], "https-listen-port: many\n").err().unwrap();
        assert!(err.contains("--https-listen-port"), "{err}");
    }

    #[test]
    fn a_missing_named_file_is_an_error() {
        let argv = ["skiff", "server", "--config", "/nonexistent/skiff.yaml"].map(OsString::from).to_vec();
        let err = apply(argv).err().unwrap().to_string();
        assert!(err.contains("cannot read the config file /nonexistent/skiff.yaml"), "{err}");
    }

    #[test]
    fn other_commands_and_help_are_left_alone() {
        for args in [&["skiff", "--help"][..], &["skiff", "server", "--help"], &["skiff", "image", "build", "pause"]] {
            let argv: Vec<OsString> = args.iter().map(OsString::from).collect();
            let applied = apply(argv.clone()).unwrap();
            assert_eq!(applied.argv, argv);
        }
    }
}

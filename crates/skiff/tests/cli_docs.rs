//! docs/cli.md against the binary: every subcommand `skiff --help` lists has a
//! section (a heading naming `` `skiff SUB` ``), every long flag its `--help` shows
//! (hidden ones are not shown) is in the first column of that section's tables,
//! every flag those tables name exists, and an environment variable a row names is
//! the flag's. When you add a flag, this test tells you which row to add.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

const SKIFF: &str = env!("CARGO_BIN_EXE_skiff");
const CLI_MD: &str = include_str!("../../../docs/cli.md");

/// A long flag as `--help` shows it, with its environment variable.
#[derive(Debug)]
struct HelpFlag {
    long: String,
    env: Option<String>,
}

fn help(path: &[&str]) -> String {
    let out = Command::new(SKIFF).args(path).arg("--help").output().unwrap();
    assert!(out.status.success(), "skiff {path:?} --help: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// The subcommands a help text lists under `Commands:` (without `help`).
fn subcommands(help: &str) -> Vec<String> {
    help.lines()
        .skip_while(|l| *l != "Commands:")
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .filter(|c| c != "help")
        .collect()
}

/// Every `--flag` of `path`, with `--help` and `--version` left out.
fn help_flags(help: &str) -> Vec<HelpFlag> {
    let mut flags: Vec<HelpFlag> = Vec::new();
    for line in help.lines() {
        let indent = line.len() - line.trim_start().len();
        let first_long = line.split_whitespace().find(|t| t.starts_with("--"));
        match first_long {
            // A flag line: indented a little, starting with `-x,` or `--flag`.
            Some(tok) if indent <= 6 && line.trim_start().starts_with('-') => {
                let long = tok.trim_end_matches(',').split(['=', '<']).next().unwrap().to_string();
                if long != "--help" && long != "--version" {
                    flags.push(HelpFlag { long, env: None });
                }
            }
            _ => {
                // Description lines: the flag's `[env: NAME=...]`.
                if let (Some(flag), Some((_, rest))) = (flags.last_mut(), line.split_once("[env: ")) {
                    flag.env = rest.split('=').next().map(str::to_string);
                }
            }
        }
    }
    flags
}

/// Each `skiff ...` section of docs/cli.md: the rows of its tables, keyed by the
/// flags in their first cell.
fn doc_sections(md: &str) -> BTreeMap<String, Vec<(Vec<String>, String)>> {
    let mut sections: BTreeMap<String, Vec<(Vec<String>, String)>> = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in md.lines() {
        if line.starts_with('#') {
            current = line.split('`').nth(1).filter(|s| s.starts_with("skiff ")).map(str::to_string);
            if let Some(c) = &current {
                sections.entry(c.clone()).or_default();
            }
            continue;
        }
        let (Some(section), Some(first_cell)) = (&current, line.strip_prefix('|').and_then(|l| l.split('|').next()))
        else {
            continue;
        };
        let flags = long_flags(first_cell);
        if !flags.is_empty() {
            sections.get_mut(section).unwrap().push((flags, line.to_string()));
        }
    }
    sections
}

/// The `--flag` names in a piece of Markdown.
fn long_flags(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("--") {
        let name: String =
            rest[at + 2..].chars().take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-').collect();
        if name.starts_with(|c: char| c.is_ascii_lowercase()) {
            out.push(format!("--{name}"));
        }
        rest = &rest[at + 2 + name.len()..];
    }
    out
}

/// Every subcommand path with its help text: `server`, `image build`, ...
fn all_commands() -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut todo: Vec<Vec<String>> = subcommands(&help(&[])).into_iter().map(|c| vec![c]).collect();
    while let Some(path) = todo.pop() {
        let args: Vec<&str> = path.iter().map(String::as_str).collect();
        let text = help(&args);
        let subs = subcommands(&text);
        if subs.is_empty() {
            out.push((path.join(" "), text));
        }
        todo.extend(subs.into_iter().map(|s| [path.clone(), vec![s]].concat()));
    }
    out.sort();
    out
}

#[test]
fn every_flag_is_documented_in_docs_cli_md_and_every_documented_flag_exists() {
    let sections = doc_sections(CLI_MD);
    let mut problems = Vec::new();
    let commands = all_commands();
    assert!(commands.iter().any(|(c, _)| c == "server") && commands.len() >= 5, "{commands:?}");
    for (command, text) in &commands {
        let name = format!("skiff {command}");
        let Some(rows) = sections.get(&name) else {
            problems.push(format!("no section for `{name}`: add a heading ``## `{name}` `` with a table of its flags"));
            continue;
        };
        let flags = help_flags(text);
        let documented: BTreeSet<&String> = rows.iter().flat_map(|(f, _)| f).collect();
        for flag in &flags {
            let Some((_, row)) = rows.iter().find(|(f, _)| f.contains(&flag.long)) else {
                problems.push(format!(
                    "`{name} {}` is not documented: add a row for it to the table under the `{name}` heading",
                    flag.long
                ));
                continue;
            };
            let named_envs: Vec<&str> = row
                .split(['`', '[', ']', ' ', ','])
                .filter(|w| w.starts_with("SKIFF_") || *w == "KUBECONFIG")
                .collect();
            if let Some(env) = &flag.env {
                if !named_envs.is_empty() && !named_envs.contains(&env.as_str()) {
                    problems.push(format!(
                        "`{name} {}`: its row names {named_envs:?}, but its variable is {env}",
                        flag.long
                    ));
                }
            }
        }
        for doc in documented {
            if !flags.iter().any(|f| &f.long == doc) {
                problems.push(format!(
                    "the `{name}` section documents `{doc}`, which `{name} --help` does not list (renamed, removed or hidden?)"
                ));
            }
        }
    }
    for section in sections.keys() {
        // A group's own section (`skiff image`, above `skiff image build`) is fine.
        let name = section.strip_prefix("skiff ").unwrap_or_default();
        let exists = |c: &String| c == name || c.starts_with(&format!("{name} "));
        if !commands.iter().any(|(c, _)| exists(c)) {
            problems.push(format!("docs/cli.md has a section for `{section}`, which is not a subcommand"));
        }
    }
    assert!(problems.is_empty(), "docs/cli.md does not match `skiff --help`:\n  {}", problems.join("\n  "));
}

#[test]
fn the_help_parser_reads_flags_and_their_variables() {
    let text = "Usage: skiff server [OPTIONS]\n\nOptions:\n      --data-dir <DATA_DIR>\n          Where.\n          \
                \n          [env: SKIFF_DATA_DIR=]\n  -o, --output <OUTPUT>\n          Out\n      --agent\n  -h, --help\n";
    let flags = help_flags(text);
    let got: Vec<(&str, Option<&str>)> = flags.iter().map(|f| (f.long.as_str(), f.env.as_deref())).collect();
    assert_eq!(got, [("--data-dir", Some("SKIFF_DATA_DIR")), ("--output", None), ("--agent", None)]);
    let md = "## `skiff server`\n| flag | d |\n|---|---|\n| `--a X` [`SKIFF_A`] | x --not-this |\n\
              | `--b` / `--c N` | y |\n### `skiff image build`\n| `--output FILE`, `-o` | z |\n";
    let sections = doc_sections(md);
    let server: Vec<&Vec<String>> = sections["skiff server"].iter().map(|(f, _)| f).collect();
    assert_eq!(server, [&vec!["--a".to_string()], &vec!["--b".to_string(), "--c".to_string()]]);
    assert_eq!(sections["skiff image build"][0].0, ["--output"]);
}

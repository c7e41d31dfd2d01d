//! Running a rule tool with its input on stdin.

use std::process::Stdio;

use tokio::io::AsyncWriteExt;

use super::SinkError;

/// Where tools run: this process's network namespace, or a named one (through
/// `nsenter`, for tests and the benchmark).
#[derive(Debug, Clone, Default)]
pub struct Tools {
    pub netns: Option<std::path::PathBuf>,
}

impl Tools {
    /// Runs `program args`, feeding `stdin`; returns stdout.
    ///
    /// # Errors
    /// `Spawn` when it cannot start, `Failed` on a non-zero exit (with its stderr).
    pub async fn run(&self, program: &str, args: &[&str], stdin: Option<&str>) -> Result<String, SinkError> {
        match &self.netns {
            None => run(tokio::process::Command::new(program), program, args, stdin).await,
            Some(ns) => {
                let mut c = tokio::process::Command::new("nsenter");
                c.arg(format!("--net={}", ns.display())).arg("--").arg(program);
                run(c, program, args, stdin).await
            }
        }
    }
}

async fn run(
    mut command: tokio::process::Command,
    program: &str,
    args: &[&str],
    stdin: Option<&str>,
) -> Result<String, SinkError> {
    let spawn = |source| SinkError::Spawn { program: program.into(), source };
    let mut child = command
        .args(args)
        .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(spawn)?;
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        // Write concurrently with reading, so a tool that answers early cannot block us.
        let text = text.to_string();
        tokio::spawn(async move {
            let _ = pipe.write_all(text.as_bytes()).await;
        });
    }
    let out = child.wait_with_output().await.map_err(spawn)?;
    if !out.status.success() {
        return Err(SinkError::Failed {
            program: format!("{program} {}", args.join(" ")),
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().chars().take(4000).collect(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

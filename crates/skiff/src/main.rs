//! The `skiff` binary: parses the command line and runs the chosen component.

mod agent;
mod api_client;
mod cli;
mod config;
mod controllers;
mod dns;
mod exit;
mod image;
mod node_ip;
mod proxy;
mod scheduler;
mod server;

use clap::Parser;

/// mimalloc instead of glibc's malloc: glibc's was ~15% of the API server's CPU per
/// create, and kept the memory of a big list's peak (GiBs) after the list was done.
/// Built without transparent huge pages (`no_thp`): with them an idle server's RSS
/// went from 23 to 56 MiB.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    let applied = match config::apply(std::env::args_os().collect()) {
        Ok(applied) => applied,
        Err(e) => return exit::fail(&e.into()),
    };
    let cli = match cli::Cli::try_parse_from(&applied.argv) {
        Ok(cli) => cli,
        Err(e) => return config::command_line_error(e, &applied),
    };
    if let Some(file) = &applied.file {
        eprintln!("skiff: settings from {}", file.display());
    }
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("SKIFF_LOG").unwrap_or_else(|_| "warn".into()))
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => return exit::fail(&anyhow::anyhow!(e).context("cannot start the async runtime")),
    };
    let result = runtime.block_on(async {
        match cli.command {
            cli::Command::Server(args) => server::run(*args).await,
            cli::Command::Scheduler(args) => scheduler::run(args).await,
            cli::Command::ControllerManager(args) => controllers::run(args).await,
            cli::Command::Image(cmd) => image::run(cmd).await,
            cli::Command::Agent(args) => agent::run(*args).await,
        }
    });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => exit::fail(&e),
    }
}

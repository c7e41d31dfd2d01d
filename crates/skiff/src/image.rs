//! `skiff image build|import`: images without a registry.

use anyhow::Context;
use skiff_kubelet::image::{busybox, import};

use crate::cli::ImageCommand;

pub async fn run(cmd: ImageCommand) -> anyhow::Result<()> {
    match cmd {
        ImageCommand::Build(args) => {
            let layout = match args.image.as_str() {
                "busybox" => busybox::busybox_image(&args.busybox)?,
                _ => busybox::pause_image(&args.busybox)?,
            };
            let tar = layout.to_tar().context("building the image tar")?;
            std::fs::write(&args.output, tar).with_context(|| format!("writing {}", args.output.display()))?;
            eprintln!("skiff: wrote {} ({})", args.output.display(), layout.names.join(", "));
            Ok(())
        }
        ImageCommand::Import(args) => {
            for file in &args.files {
                let out = import::import(&args.address, file).await?;
                print!("{out}");
                eprintln!("skiff: imported {}", file.display());
            }
            Ok(())
        }
    }
}

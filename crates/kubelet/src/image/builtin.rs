//! The images a new node needs without a registry: on start, the agent's own
//! containerd gets the busybox and pause images (built from the host's static
//! busybox) unless it has them already, so the first `kubectl run` just works.

use std::path::Path;

use super::busybox::{busybox_image, pause_image, BUSYBOX_NAMES, PAUSE_IMAGE};
use super::oci::ImageLayout;
use super::{import, Error, Result};
use crate::runtime::Runtime;

/// One built-in image: the name that shows it is present, and how to build it.
struct Builtin {
    present_as: &'static str,
    build: fn(&Path) -> Result<ImageLayout>,
}

fn builtins() -> [Builtin; 2] {
    [
        Builtin { present_as: BUSYBOX_NAMES[1], build: busybox_image },
        Builtin { present_as: PAUSE_IMAGE, build: pause_image },
    ]
}

/// Builds and imports each built-in image the runtime lacks, through the
/// containerd at `socket`, keeping the tars under `dir`. Returns the names imported.
///
/// # Errors
/// The host has no static busybox, or the build or import fails.
pub async fn ensure(runtime: &dyn Runtime, socket: &Path, busybox: &Path, dir: &Path) -> Result<Vec<String>> {
    let mut imported = Vec::new();
    for image in builtins() {
        if matches!(runtime.image_status(image.present_as).await, Ok(Some(_))) {
            continue;
        }
        let layout = (image.build)(busybox)?;
        let tar = layout.to_tar().map_err(|source| Error::Write { path: dir.display().to_string(), source })?;
        std::fs::create_dir_all(dir).map_err(|source| Error::Write { path: dir.display().to_string(), source })?;
        let file = dir.join(format!("{}.tar", image.present_as.replace(['/', ':'], "_")));
        std::fs::write(&file, tar).map_err(|source| Error::Write { path: file.display().to_string(), source })?;
        import::import(socket, &file).await?;
        imported.extend(layout.names);
    }
    Ok(imported)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::{FakeConfig, FakeRuntime};

    #[tokio::test]
    async fn images_the_runtime_has_are_not_rebuilt() {
        let images = builtins().iter().map(|b| b.present_as.to_string()).collect();
        let runtime = FakeRuntime::new(FakeConfig { images, ..Default::default() });
        // Neither the busybox binary nor the socket exist: nothing is built or imported.
        let dir = tempfile::tempdir().unwrap();
        let imported = ensure(&runtime, Path::new("/nonexistent.sock"), Path::new("/nonexistent"), dir.path()).await;
        assert_eq!(imported.unwrap(), Vec::<String>::new());
    }

    #[tokio::test]
    async fn a_missing_image_without_busybox_says_what_to_install() {
        let runtime = FakeRuntime::new(FakeConfig::default());
        let dir = tempfile::tempdir().unwrap();
        let err = ensure(&runtime, Path::new("/nonexistent.sock"), Path::new("/nonexistent"), dir.path()).await;
        assert!(err.unwrap_err().to_string().contains("busybox"));
    }
}

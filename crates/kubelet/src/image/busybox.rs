//! The busybox and pause images, built from a static busybox binary (Debian's
//! `busybox-static` installs one at `/bin/busybox`).

use std::path::Path;

use super::oci::{Entry, ImageConfig, ImageLayout};
use super::{Error, Result};

/// The names the busybox image is imported under (`image: busybox` in a pod
/// resolves to the first).
pub const BUSYBOX_NAMES: &[&str] = &["docker.io/library/busybox:latest", "docker.io/library/busybox:1.36"];
/// The sandbox ("pause") image skiff configures containerd with.
pub const PAUSE_IMAGE: &str = "skiff.local/pause:3.10";

/// Where Debian's busybox-static puts the binary.
pub const DEFAULT_BUSYBOX: &str = "/bin/busybox";

const PATH_ENV: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Reads the binary and checks it is a static busybox; returns it and its applet
/// paths (`bin/sh`, `usr/bin/env`, ...).
fn read_busybox(path: &Path) -> Result<(Vec<u8>, Vec<String>)> {
    let shown = path.display().to_string();
    let data = std::fs::read(path).map_err(|source| match source.kind() {
        std::io::ErrorKind::NotFound => Error::NotBusybox(shown.clone(), source.to_string()),
        _ => Error::Read { path: shown.clone(), source },
    })?;
    let out = std::process::Command::new(path)
        .arg("--list-full")
        .output()
        .map_err(|source| Error::Spawn { cmd: format!("{shown} --list-full"), source })?;
    if !out.status.success() {
        return Err(Error::NotBusybox(shown, String::from_utf8_lossy(&out.stderr).into_owned()));
    }
    // A dynamically linked busybox would not run inside an image with no libc.
    if data.windows(b"/ld-linux".len()).any(|w| w == b"/ld-linux") {
        return Err(Error::NotBusybox(shown, "it is dynamically linked".into()));
    }
    let applets =
        String::from_utf8_lossy(&out.stdout).lines().map(|l| l.trim().to_string()).filter(|l| !l.is_empty()).collect();
    Ok((data, applets))
}

fn base_dirs() -> Vec<Entry> {
    let dir = |p: &str, mode| Entry::Dir { path: p.into(), mode };
    vec![
        dir("bin", 0o755),
        dir("sbin", 0o755),
        dir("usr", 0o755),
        dir("usr/bin", 0o755),
        dir("usr/sbin", 0o755),
        dir("etc", 0o755),
        dir("root", 0o700),
        dir("tmp", 0o1777),
        dir("var", 0o755),
        dir("home", 0o755),
        dir("proc", 0o555),
        dir("sys", 0o555),
        dir("dev", 0o755),
    ]
}

/// The busybox layer: the binary at `/bin/busybox`, every applet as a symlink to
/// it, `/etc/passwd` and `/etc/group` with root and nobody.
pub fn busybox_image(busybox: &Path) -> Result<ImageLayout> {
    let (data, applets) = read_busybox(busybox)?;
    let mut layer = base_dirs();
    layer.push(Entry::File { path: "bin/busybox".into(), mode: 0o755, data });
    for applet in applets {
        if applet == "bin/busybox" || !applet.contains('/') {
            continue;
        }
        layer.push(Entry::Symlink { path: applet, target: "/bin/busybox".into() });
    }
    let text = |p: &str, s: &str| Entry::File { path: p.into(), mode: 0o644, data: s.as_bytes().to_vec() };
    layer.push(text("etc/passwd", "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n"));
    layer.push(text("etc/group", "root:x:0:\nnobody:x:65534:\n"));
    Ok(ImageLayout {
        names: BUSYBOX_NAMES.iter().map(|s| s.to_string()).collect(),
        config: ImageConfig { cmd: vec!["sh".into()], env: vec![PATH_ENV.into()], ..Default::default() },
        layer,
    })
}

/// The pause image: sleeps until SIGTERM/SIGINT, then exits 0 (PID 1 ignores
/// signals it has no handler for, so the trap is what makes a stop prompt).
pub fn pause_image(busybox: &Path) -> Result<ImageLayout> {
    let (data, _) = read_busybox(busybox)?;
    let mut layer = base_dirs();
    layer.push(Entry::File { path: "bin/busybox".into(), mode: 0o755, data });
    layer.push(Entry::Symlink { path: "bin/sh".into(), target: "/bin/busybox".into() });
    layer.push(Entry::Symlink { path: "bin/sleep".into(), target: "/bin/busybox".into() });
    Ok(ImageLayout {
        names: vec![PAUSE_IMAGE.into()],
        config: ImageConfig {
            entrypoint: vec![
                "/bin/sh".into(),
                "-c".into(),
                "trap 'exit 0' TERM INT; while true; do sleep 3600 & wait $!; done".into(),
            ],
            env: vec![PATH_ENV.into()],
            ..Default::default()
        },
        layer,
    })
}

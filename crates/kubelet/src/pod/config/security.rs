//! A container's `securityContext` (over the pod's) → CRI
//! `LinuxContainerSecurityContext`, as upstream's kubelet determines it: the
//! container's field wins over the pod's; `fsGroup` and `supplementalGroups` join
//! the groups; `allowPrivilegeEscalation: false` is `no_new_privs`; seccomp only
//! when asked for; and the namespaces matching the sandbox's (pid per container
//! unless `shareProcessNamespace`).

use k8s_openapi::api::core::v1::{Container, Pod, SeccompProfile};

use crate::cri;

fn seccomp(p: &SeccompProfile) -> cri::SecurityProfile {
    use cri::security_profile::ProfileType;
    let profile_type = match p.type_.as_str() {
        "RuntimeDefault" => ProfileType::RuntimeDefault,
        "Localhost" => ProfileType::Localhost,
        _ => ProfileType::Unconfined,
    } as i32;
    cri::SecurityProfile { profile_type, localhost_ref: p.localhost_profile.clone().unwrap_or_default() }
}

/// The namespaces a pod's containers join (the sandbox's, except pid).
pub fn namespace_options(pod: &Pod) -> cri::NamespaceOption {
    let spec = pod.spec.clone().unwrap_or_default();
    let mode =
        |node: bool, otherwise: cri::NamespaceMode| if node { cri::NamespaceMode::Node } else { otherwise } as i32;
    let pid_default = if spec.share_process_namespace.unwrap_or(false) {
        cri::NamespaceMode::Pod
    } else {
        cri::NamespaceMode::Container
    };
    cri::NamespaceOption {
        network: mode(spec.host_network.unwrap_or(false), cri::NamespaceMode::Pod),
        pid: mode(spec.host_pid.unwrap_or(false), pid_default),
        ipc: mode(spec.host_ipc.unwrap_or(false), cri::NamespaceMode::Pod),
        ..Default::default()
    }
}

/// The CRI security context for container `c` of `pod`.
pub fn security_context(pod: &Pod, c: &Container) -> cri::LinuxContainerSecurityContext {
    let psc = pod.spec.as_ref().and_then(|s| s.security_context.clone()).unwrap_or_default();
    let csc = c.security_context.clone().unwrap_or_default();
    let run_as_user = csc.run_as_user.or(psc.run_as_user).map(|value| cri::Int64Value { value });
    let run_as_group = csc.run_as_group.or(psc.run_as_group).map(|value| cri::Int64Value { value });
    let mut groups: Vec<i64> = psc.fs_group.into_iter().collect();
    groups.extend(psc.supplemental_groups.iter().flatten().copied());
    groups.dedup();
    let privileged = csc.privileged.unwrap_or(false);
    let capabilities = csc.capabilities.as_ref().map(|caps| cri::Capability {
        add_capabilities: caps.add.clone().unwrap_or_default(),
        drop_capabilities: caps.drop.clone().unwrap_or_default(),
        ..Default::default()
    });
    cri::LinuxContainerSecurityContext {
        capabilities,
        privileged,
        namespace_options: Some(namespace_options(pod)),
        run_as_user,
        run_as_group,
        readonly_rootfs: csc.read_only_root_filesystem.unwrap_or(false),
        supplemental_groups: groups,
        no_new_privs: csc.allow_privilege_escalation == Some(false) && !privileged,
        seccomp: csc.seccomp_profile.as_ref().or(psc.seccomp_profile.as_ref()).map(seccomp),
        ..Default::default()
    }
}

/// `runAsNonRoot` as upstream checks it before starting: a numeric user must
/// not be 0. (The image's user is not consulted: an image running as root
/// without `runAsUser` passes here.)
///
/// # Errors
/// Upstream's message when the container would run as root.
pub fn check_non_root(pod: &Pod, c: &Container) -> Result<(), String> {
    let psc = pod.spec.as_ref().and_then(|s| s.security_context.clone()).unwrap_or_default();
    let csc = c.security_context.clone().unwrap_or_default();
    if csc.run_as_non_root.or(psc.run_as_non_root) != Some(true) {
        return Ok(());
    }
    match csc.run_as_user.or(psc.run_as_user) {
        Some(0) => Err(format!(
            "container's runAsUser breaks non-root policy (pod: \"{}\", container: {})",
            pod.metadata.name.as_deref().unwrap_or(""),
            c.name
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{Capabilities, PodSecurityContext, PodSpec, SecurityContext};

    fn pod_with(psc: PodSecurityContext, csc: SecurityContext) -> (Pod, Container) {
        let c = Container { name: "c".into(), security_context: Some(csc), ..Default::default() };
        let spec = PodSpec { containers: vec![c.clone()], security_context: Some(psc), ..Default::default() };
        (Pod { spec: Some(spec), ..Default::default() }, c)
    }

    #[test]
    fn container_fields_win_and_groups_join() {
        let (pod, c) = pod_with(
            PodSecurityContext {
                run_as_user: Some(1000),
                run_as_group: Some(3000),
                fs_group: Some(2000),
                supplemental_groups: Some(vec![4000]),
                ..Default::default()
            },
            SecurityContext {
                run_as_user: Some(1001),
                read_only_root_filesystem: Some(true),
                allow_privilege_escalation: Some(false),
                capabilities: Some(Capabilities {
                    add: Some(vec!["NET_ADMIN".into()]),
                    drop: Some(vec!["ALL".into()]),
                }),
                ..Default::default()
            },
        );
        let sc = security_context(&pod, &c);
        assert_eq!(sc.run_as_user, Some(cri::Int64Value { value: 1001 }));
        assert_eq!(sc.run_as_group, Some(cri::Int64Value { value: 3000 }));
        assert_eq!(sc.supplemental_groups, vec![2000, 4000]);
        assert!(sc.readonly_rootfs && sc.no_new_privs && !sc.privileged);
        let caps = sc.capabilities.unwrap();
        assert_eq!((caps.add_capabilities, caps.drop_capabilities), (vec!["NET_ADMIN".into()], vec!["ALL".into()]));
        assert_eq!(sc.seccomp, None, "no profile unless asked for");
        assert_eq!(sc.namespace_options.unwrap().pid, cri::NamespaceMode::Container as i32);
    }

    #[test]
    fn runtime_default_seccomp_and_non_root() {
        let (pod, c) = pod_with(
            PodSecurityContext {
                seccomp_profile: Some(SeccompProfile { type_: "RuntimeDefault".into(), localhost_profile: None }),
                run_as_non_root: Some(true),
                ..Default::default()
            },
            SecurityContext { run_as_user: Some(0), ..Default::default() },
        );
        let sc = security_context(&pod, &c);
        assert_eq!(sc.seccomp.unwrap().profile_type, cri::security_profile::ProfileType::RuntimeDefault as i32);
        assert!(check_non_root(&pod, &c).unwrap_err().contains("breaks non-root policy"));
    }
}

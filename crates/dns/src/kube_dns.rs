//! The `kube-dns` Service in `kube-system` (the name every Kubernetes
//! distribution uses, whatever serves it) with a fixed cluster IP, and its
//! Endpoints and EndpointSlice pointing at where this DNS server listens. The
//! Service has no selector, so the endpoint controllers leave both alone and
//! the service proxy turns `clusterIP:53` into this server's address.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use k8s_openapi::api::core::v1::{
    EndpointAddress, EndpointPort, EndpointSubset, Endpoints, Service, ServicePort, ServiceSpec,
};
use k8s_openapi::api::discovery::v1::{Endpoint, EndpointConditions, EndpointPort as SlicePort, EndpointSlice};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::PostParams;
use kube::{Api, Client};
use tokio_util::sync::CancellationToken;

pub const NAMESPACE: &str = "kube-system";
pub const NAME: &str = "kube-dns";

fn labels(pairs: &[(&str, &str)]) -> Option<BTreeMap<String, String>> {
    Some(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect())
}

fn meta(l: &[(&str, &str)]) -> ObjectMeta {
    ObjectMeta { name: Some(NAME.into()), namespace: Some(NAMESPACE.into()), labels: labels(l), ..Default::default() }
}

const SERVICE_LABELS: &[(&str, &str)] =
    &[("k8s-app", "kube-dns"), ("kubernetes.io/cluster-service", "true"), ("kubernetes.io/name", "CoreDNS")];

/// The three objects as they should be, for a Service IP and the server's
/// listen address.
pub fn desired(cluster_ip: std::net::IpAddr, listen: SocketAddr) -> (Service, Endpoints, EndpointSlice) {
    let ports = [("dns", "UDP"), ("dns-tcp", "TCP")];
    let service = Service {
        metadata: meta(SERVICE_LABELS),
        spec: Some(ServiceSpec {
            cluster_ip: Some(cluster_ip.to_string()),
            cluster_ips: Some(vec![cluster_ip.to_string()]),
            ports: Some(
                ports
                    .iter()
                    .map(|(name, proto)| ServicePort {
                        name: Some(name.to_string()),
                        protocol: Some(proto.to_string()),
                        port: 53,
                        target_port: Some(k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(
                            listen.port().into(),
                        )),
                        ..Default::default()
                    })
                    .collect(),
            ),
            ..Default::default()
        }),
        ..Default::default()
    };
    let ip = listen.ip().to_string();
    let endpoints = Endpoints {
        metadata: meta(&[("k8s-app", "kube-dns"), ("endpointslice.kubernetes.io/skip-mirror", "true")]),
        subsets: Some(vec![EndpointSubset {
            addresses: Some(vec![EndpointAddress { ip: ip.clone(), ..Default::default() }]),
            ports: Some(
                ports
                    .iter()
                    .map(|(name, proto)| EndpointPort {
                        name: Some(name.to_string()),
                        port: listen.port().into(),
                        protocol: Some(proto.to_string()),
                        ..Default::default()
                    })
                    .collect(),
            ),
            ..Default::default()
        }]),
    };
    let slice = EndpointSlice {
        metadata: meta(&[
            ("k8s-app", "kube-dns"),
            ("kubernetes.io/service-name", NAME),
            ("endpointslice.kubernetes.io/managed-by", "skiff-dns"),
        ]),
        address_type: if listen.is_ipv4() { "IPv4".into() } else { "IPv6".into() },
        endpoints: vec![Endpoint {
            addresses: vec![ip],
            conditions: Some(EndpointConditions { ready: Some(true), serving: Some(true), terminating: Some(false) }),
            ..Default::default()
        }],
        ports: Some(
            ports
                .iter()
                .map(|(name, proto)| SlicePort {
                    name: Some(name.to_string()),
                    port: Some(listen.port().into()),
                    protocol: Some(proto.to_string()),
                    ..Default::default()
                })
                .collect(),
        ),
    };
    (service, endpoints, slice)
}

/// Creates what is missing and rewrites Endpoints/EndpointSlice that list
/// another address. An existing Service is left as it is (its cluster IP
/// cannot change); a different cluster IP is reported.
pub async fn ensure(client: &Client, cluster_ip: std::net::IpAddr, listen: SocketAddr) -> Result<(), kube::Error> {
    let (service, endpoints, slice) = desired(cluster_ip, listen);
    let services: Api<Service> = Api::namespaced(client.clone(), NAMESPACE);
    match services.get_opt(NAME).await? {
        None => ignore_exists(services.create(&PostParams::default(), &service).await)?,
        Some(have) => {
            let ip = have.spec.and_then(|s| s.cluster_ip).unwrap_or_default();
            if ip != cluster_ip.to_string() {
                tracing::warn!("dns: kube-system/kube-dns has cluster IP {ip}, not {cluster_ip}; pods' resolv.conf may point elsewhere");
            }
        }
    }
    let api: Api<Endpoints> = Api::namespaced(client.clone(), NAMESPACE);
    match api.get_opt(NAME).await? {
        None => ignore_exists(api.create(&PostParams::default(), &endpoints).await)?,
        Some(have) if have.subsets != endpoints.subsets || have.metadata.labels != endpoints.metadata.labels => {
            let mut want = endpoints;
            want.metadata.resource_version = have.metadata.resource_version;
            api.replace(NAME, &PostParams::default(), &want).await?;
        }
        Some(_) => {}
    }
    let api: Api<EndpointSlice> = Api::namespaced(client.clone(), NAMESPACE);
    match api.get_opt(NAME).await? {
        None => ignore_exists(api.create(&PostParams::default(), &slice).await)?,
        Some(have)
            if have.endpoints != slice.endpoints
                || have.ports != slice.ports
                || have.address_type != slice.address_type
                || have.metadata.labels != slice.metadata.labels =>
        {
            let mut want = slice;
            want.metadata.resource_version = have.metadata.resource_version;
            api.replace(NAME, &PostParams::default(), &want).await?;
        }
        Some(_) => {}
    }
    Ok(())
}

fn ignore_exists<T>(r: Result<T, kube::Error>) -> Result<(), kube::Error> {
    match r {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(e)) if e.code == 409 => Ok(()),
        Err(e) => Err(e),
    }
}

/// Ensures the objects now and every minute (someone may delete them), until
/// `shutdown`; failures are retried after a few seconds.
pub async fn run(client: Client, cluster_ip: std::net::IpAddr, listen: SocketAddr, shutdown: CancellationToken) {
    loop {
        let wait = match ensure(&client, cluster_ip, listen).await {
            Ok(()) => Duration::from_secs(60),
            Err(e) => {
                tracing::warn!("dns: writing kube-system/kube-dns: {e}");
                Duration::from_secs(3)
            }
        };
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_service_points_at_the_listen_address() {
        let (svc, ep, slice) = desired("10.43.0.10".parse().unwrap(), "10.0.0.5:53".parse().unwrap());
        let spec = svc.spec.unwrap();
        assert_eq!(spec.cluster_ip.as_deref(), Some("10.43.0.10"));
        assert!(spec.selector.is_none(), "no selector: the endpoint controllers leave it alone");
        let ports: Vec<_> =
            spec.ports.unwrap().into_iter().map(|p| (p.name.unwrap(), p.protocol.unwrap(), p.port)).collect();
        assert_eq!(ports, [("dns".into(), "UDP".into(), 53), ("dns-tcp".into(), "TCP".into(), 53)]);
        assert_eq!(ep.subsets.unwrap()[0].addresses.as_ref().unwrap()[0].ip, "10.0.0.5");
        assert_eq!(slice.endpoints[0].addresses, ["10.0.0.5"]);
        assert_eq!(slice.metadata.labels.unwrap()["kubernetes.io/service-name"], "kube-dns");
        let (_, _, s6) = desired("10.43.0.10".parse().unwrap(), "[fd00::5]:5353".parse().unwrap());
        assert_eq!(s6.address_type, "IPv6");
        assert_eq!(s6.ports.unwrap()[0].port, Some(5353));
    }
}

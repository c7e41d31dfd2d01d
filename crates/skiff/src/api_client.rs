//! How the components `skiff server` runs (scheduler, controllers, node IPAM, DNS,
//! ServiceLB, the local agent) reach its API server: in-process by default, through
//! the server's loopback transport (the same request pipeline without TCP, TLS and
//! HTTP/2; see `skiff_apiserver::loopback`), or, with `--components-over-https`,
//! over HTTPS with the admin kubeconfig, as separate processes would.

use std::path::PathBuf;

use skiff_apiserver::loopback::Loopback;

pub enum ApiAccess {
    InProcess(Loopback),
    Kubeconfig(PathBuf),
}

impl ApiAccess {
    /// A client for `component` (its name goes into the User-Agent, hence into the
    /// field manager of its writes).
    pub async fn client(&self, component: &str) -> anyhow::Result<kube::Client> {
        Ok(match self {
            ApiAccess::InProcess(loopback) => skiff_scheduler::shell::client_from_service(loopback.clone(), component),
            ApiAccess::Kubeconfig(path) => skiff_scheduler::shell::client_from_kubeconfig(path, component).await?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::{StreamExt, TryStreamExt};
    use k8s_openapi::api::core::v1::ConfigMap;
    use kube::api::{Api, PostParams, WatchEvent, WatchParams};
    use std::sync::Arc;

    /// An API server on an embedded store, not serving the network: the in-process
    /// transport needs no listener to be running.
    async fn apiserver(dir: &std::path::Path) -> skiff_apiserver::ApiServer {
        let store = skiff_store::RedbStore::open(&dir.join("db")).unwrap();
        let config = skiff_apiserver::Config {
            bind_address: [127, 0, 0, 1].into(),
            port: 0,
            data_dir: dir.to_path_buf(),
            token_file: None,
            serving_names: skiff_apiserver::pki::ServingNames::new("test"),
        };
        let shutdown = tokio_util::sync::CancellationToken::new();
        skiff_apiserver::ApiServer::start(config, Arc::new(store), shutdown).await.unwrap()
    }

    fn config_map(name: &str) -> ConfigMap {
        serde_json::from_value(serde_json::json!({"metadata": {"name": name}, "data": {"k": "v"}})).unwrap()
    }

    #[tokio::test]
    async fn in_process_requests_go_through_the_whole_pipeline() {
        let dir = tempfile::tempdir().unwrap();
        let server = apiserver(dir.path()).await;
        let client = ApiAccess::InProcess(server.loopback()).client("test-component").await.unwrap();

        // Authenticated as the admin certificate, by the x509 authenticator.
        let review: serde_json::Value = client
            .request(
                http::Request::post("/apis/authentication.k8s.io/v1/selfsubjectreviews")
                    .header("content-type", "application/json")
                    .body(br#"{"apiVersion":"authentication.k8s.io/v1","kind":"SelfSubjectReview"}"#.to_vec())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(review["status"]["userInfo"]["username"], "system:admin", "{review}");
        let groups = review["status"]["userInfo"]["groups"].to_string();
        assert!(groups.contains("system:masters") && groups.contains("system:authenticated"), "{groups}");

        // A write is owned by the component its User-Agent names.
        let api: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
        let created = api.create(&PostParams::default(), &config_map("first")).await.unwrap();
        let managers = created.metadata.managed_fields.unwrap_or_default();
        assert_eq!(managers.len(), 1);
        assert_eq!(managers[0].manager.as_deref(), Some("test-component"));

        // Validation answers with a Status, as on the wire.
        match api.create(&PostParams::default(), &config_map("Not_A_Name")).await {
            Err(kube::Error::Api(status)) => assert_eq!(status.code, 422, "{status:?}"),
            other => panic!("expected a 422, got {other:?}"),
        }
        // Admission too: no writes into a namespace that does not exist.
        let missing: Api<ConfigMap> = Api::namespaced(client.clone(), "missing");
        match missing.create(&PostParams::default(), &config_map("c")).await {
            Err(kube::Error::Api(status)) => assert_eq!(status.code, 404, "{status:?}"),
            other => panic!("expected a 404, got {other:?}"),
        }

        // A watch streams events as they happen.
        let rv = created.metadata.resource_version.unwrap();
        let mut events = api.watch(&WatchParams::default().timeout(30), &rv).await.unwrap().boxed();
        api.create(&PostParams::default(), &config_map("second")).await.unwrap();
        let event = tokio::time::timeout(std::time::Duration::from_secs(10), events.try_next()).await;
        match event.expect("an event within 10 s").unwrap() {
            Some(WatchEvent::Added(cm)) => assert_eq!(cm.metadata.name.as_deref(), Some("second")),
            other => panic!("expected ADDED second, got {other:?}"),
        }
        drop(events.next());
    }
}

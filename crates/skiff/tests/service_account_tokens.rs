//! ServiceAccount tokens against a running `skiff server` with real kubectl:
//! `kubectl create token` (TokenRequest) gives a JWT with upstream's claims
//! that authenticates as the ServiceAccount (`kubectl auth whoami`); tokens of
//! another cluster, for another audience, of a deleted (or recreated)
//! ServiceAccount or of a deleted bound pod get 401; TokenReview answers for
//! them; and pods get their ServiceAccount and the `kube-api-access-*` volume.

mod common;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use common::kubelet::wait_for;
use common::Cluster;
use serde_json::Value;

/// What `kubernetes.config.load_incluster_config()` does in a pod, with the
/// files and the address given: reads the token and CA, then calls the API.
const IN_CLUSTER: &str = r#"
import sys
from kubernetes import client
from kubernetes.config.incluster_config import InClusterConfigLoader
env = {"KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": sys.argv[3]}
InClusterConfigLoader(token_filename=sys.argv[1], cert_filename=sys.argv[2], environ=env).load_and_set()
sa = client.CoreV1Api().read_namespaced_service_account("default", "default")
who = client.AuthenticationV1Api().create_self_subject_review(client.V1SelfSubjectReview())
print(sa.metadata.name, who.status.user_info.username)
"#;

fn claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).expect("a JWT");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

fn whoami(c: &Cluster, token: &str) -> Result<String, String> {
    let out = c.kubectl_with_token(token, &["auth", "whoami", "-o", "jsonpath={.status.userInfo.username}"]);
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).to_string())
    }
}

fn create_token(c: &Cluster, args: &[&str]) -> String {
    let mut all = vec!["create", "token"];
    all.extend_from_slice(args);
    c.ok(&all).trim().to_string()
}

fn wait_for_default_account(c: &Cluster, ns: &str) {
    wait_for(c, &["get", "serviceaccount", "default", "-n", ns, "-o", "name"], "the default ServiceAccount", |s| {
        s.contains("serviceaccount/default")
    });
}

#[test]
fn created_tokens_authenticate_as_their_service_account_until_it_or_the_bound_pod_goes() {
    let c = Cluster::start();
    wait_for_default_account(&c, "default");

    // kubectl create token → TokenRequest; upstream's claims.
    let token = create_token(&c, &["default"]);
    let cl = claims(&token);
    assert_eq!(cl["iss"], "https://kubernetes.default.svc.cluster.local");
    assert_eq!(cl["sub"], "system:serviceaccount:default:default");
    assert_eq!(cl["aud"], serde_json::json!(["https://kubernetes.default.svc.cluster.local"]));
    assert_eq!(cl["exp"].as_i64().unwrap() - cl["iat"].as_i64().unwrap(), 3600);
    assert_eq!(cl["nbf"], cl["iat"]);
    assert_eq!(cl["kubernetes.io"]["namespace"], "default");
    let sa_uid = c.ok(&["get", "sa", "default", "-o", "jsonpath={.metadata.uid}"]);
    assert_eq!(cl["kubernetes.io"]["serviceaccount"]["uid"], sa_uid.as_str());
    assert_eq!(whoami(&c, &token).unwrap(), "system:serviceaccount:default:default");
    let out = c.kubectl_with_token(&token, &["auth", "whoami", "-o", "json"]);
    let info: Value = serde_json::from_slice(&out.stdout).unwrap();
    let groups = &info["status"]["userInfo"]["groups"];
    for g in ["system:serviceaccounts", "system:serviceaccounts:default", "system:authenticated"] {
        assert!(groups.as_array().unwrap().iter().any(|x| x == g), "{g} in {groups}");
    }
    assert!(c.kubectl_with_token(&token, &["get", "pods"]).status.success());

    // The Python client's in-cluster loader, given the token and CA files a pod has.
    let token_file = c.manifest("token", &token);
    let ca_file = c.data_dir().join("tls/ca.crt");
    let out = std::process::Command::new("python3")
        .args(["-c", IN_CLUSTER, &token_file, &ca_file.display().to_string(), &c.port.to_string()])
        .output()
        .expect("python3 with the kubernetes package (scripts/deps)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}\n{stdout}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(stdout.trim(), "default system:serviceaccount:default:default");

    // Lifetimes under ten minutes are refused; longer ones are granted.
    let out = c.kubectl(&["create", "token", "default", "--duration=5m"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("less than 10 minutes"));
    let long = claims(&create_token(&c, &["default", "--duration=2h"]));
    assert_eq!(long["exp"].as_i64().unwrap() - long["iat"].as_i64().unwrap(), 7200);

    // A token of another cluster (another signing key) is refused.
    let other = Cluster::start();
    wait_for_default_account(&other, "default");
    let foreign = create_token(&other, &["default"]);
    drop(other);
    let e = whoami(&c, &foreign).unwrap_err();
    assert!(e.contains("Unauthorized"), "{e}");
    // Another audience: refused as a credential, but TokenReview for that audience accepts it.
    let vault = create_token(&c, &["default", "--audience=vault"]);
    assert_eq!(claims(&vault)["aud"], serde_json::json!(["vault"]));
    assert!(whoami(&c, &vault).unwrap_err().contains("Unauthorized"));
    let review = |token: &str, audiences: &str| -> Value {
        let yaml = format!(
            "apiVersion: authentication.k8s.io/v1\nkind: TokenReview\nspec: {{token: \"{token}\", audiences: {audiences}}}\n"
        );
        let path = c.manifest("review.yaml", &yaml);
        serde_json::from_str(&c.ok(&["create", "--validate=false", "-f", &path, "-o", "json"])).unwrap()
    };
    let r = review(&vault, "[vault]");
    assert_eq!(r["status"]["authenticated"], true, "{r}");
    assert_eq!(r["status"]["user"]["username"], "system:serviceaccount:default:default");
    assert_eq!(r["status"]["audiences"], serde_json::json!(["vault"]));
    assert_eq!(review(&vault, "[]")["status"]["authenticated"], false);
    assert_eq!(review(&foreign, "[]")["status"]["authenticated"], false);

    // A deleted ServiceAccount's tokens stop working, also once one of the same name is back.
    c.ok(&["create", "serviceaccount", "builder"]);
    let builder = create_token(&c, &["builder"]);
    assert_eq!(whoami(&c, &builder).unwrap(), "system:serviceaccount:default:builder");
    c.ok(&["delete", "serviceaccount", "builder"]);
    assert!(whoami(&c, &builder).unwrap_err().contains("Unauthorized"));
    c.ok(&["create", "serviceaccount", "builder"]);
    assert!(whoami(&c, &builder).unwrap_err().contains("Unauthorized"), "a new uid");
    let e = c.fails(&["create", "token", "nobody"]);
    assert!(e.contains("not found"), "{e}");

    // Bound to a pod: valid while the pod exists.
    c.ok(&["run", "holder", "--image=busybox:1.36", "--restart=Never"]);
    let pod_uid = c.ok(&["get", "pod", "holder", "-o", "jsonpath={.metadata.uid}"]);
    let bound = create_token(
        &c,
        &["default", "--bound-object-kind=Pod", "--bound-object-name=holder", &format!("--bound-object-uid={pod_uid}")],
    );
    assert_eq!(claims(&bound)["kubernetes.io"]["pod"]["uid"], pod_uid.as_str());
    assert_eq!(whoami(&c, &bound).unwrap(), "system:serviceaccount:default:default");
    let e = c.fails(&[
        "create",
        "token",
        "default",
        "--bound-object-kind=Pod",
        "--bound-object-name=holder",
        "--bound-object-uid=wrong",
    ]);
    assert!(e.contains("does not match"), "{e}");
    c.ok(&["delete", "pod", "holder", "--grace-period=0", "--force"]);
    assert!(whoami(&c, &bound).unwrap_err().contains("Unauthorized"));
    // The token of a restarted server still works: the key is kept in the data directory.
    let mut c = c;
    c.restart(&[]);
    assert_eq!(whoami(&c, &token).unwrap(), "system:serviceaccount:default:default");
}

#[test]
fn pods_get_their_service_account_and_the_api_access_volume() {
    let c = Cluster::start();
    c.ok(&["create", "namespace", "apps"]);
    // Right after its namespace: admission waits for the controller's default account.
    c.ok(&["run", "p", "-n", "apps", "--image=busybox:1.36", "--restart=Never"]);
    let spec: Value =
        serde_json::from_str(&c.ok(&["get", "pod", "p", "-n", "apps", "-o", "jsonpath={.spec}"])).unwrap();
    assert_eq!(spec["serviceAccountName"], "default");
    let volume = &spec["volumes"][0];
    let name = volume["name"].as_str().unwrap();
    assert!(name.starts_with("kube-api-access-") && name.len() == "kube-api-access-".len() + 5, "{name}");
    let sources = &volume["projected"]["sources"];
    assert_eq!(sources[0]["serviceAccountToken"]["expirationSeconds"], 3607);
    assert_eq!(sources[0]["serviceAccountToken"]["path"], "token");
    assert_eq!(sources[1]["configMap"]["name"], "kube-root-ca.crt");
    assert_eq!(sources[2]["downwardAPI"]["items"][0]["fieldRef"]["fieldPath"], "metadata.namespace");
    let mount = &spec["containers"][0]["volumeMounts"][0];
    assert_eq!(mount["mountPath"], "/var/run/secrets/kubernetes.io/serviceaccount");
    assert_eq!((mount["name"].as_str(), mount["readOnly"].as_bool()), (Some(name), Some(true)));

    // automountServiceAccountToken: false on the account (or the pod) mounts nothing.
    let quiet = "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: quiet, namespace: apps}\nautomountServiceAccountToken: false\n";
    c.ok(&["apply", "-f", &c.manifest("quiet.yaml", quiet)]);
    let pod = "apiVersion: v1\nkind: Pod\nmetadata: {name: q, namespace: apps}\nspec: {serviceAccountName: quiet, containers: [{name: c, image: busybox:1.36}]}\n";
    c.ok(&["apply", "-f", &c.manifest("q.yaml", pod)]);
    assert_eq!(c.ok(&["get", "pod", "q", "-n", "apps", "-o", "jsonpath={.spec.volumes}"]), "");
    // A missing ServiceAccount is refused, as upstream.
    let pod = "apiVersion: v1\nkind: Pod\nmetadata: {name: m, namespace: apps}\nspec: {serviceAccountName: missing, containers: [{name: c, image: busybox:1.36}]}\n";
    let e = c.fails(&["apply", "-f", &c.manifest("m.yaml", pod)]);
    assert!(e.contains("error looking up service account apps/missing"), "{e}");
}

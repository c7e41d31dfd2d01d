#!/usr/bin/env python3
"""Capture the protobuf request bodies real kubectl sends, as test fixtures.

    python3 tools/protobuf/capture_kubectl.py [--kubectl /usr/bin/kubectl] [--out DIR]

Runs a fake API server on 127.0.0.1 (plain HTTP, loopback only) that answers legacy
discovery just well enough for kubectl's typed commands to POST, records each write
request's body, and answers it with a plausible JSON object. Writes `<name>.pb`
(the raw body) per command that sent protobuf, `<name>.json` (kubectl's own
`--dry-run=client -o json` rendering of the same object, the expected decoding), plus `index.json` (command, method,
path and content type of every captured request, JSON ones included).
"""

import argparse
import http.server
import json
import os
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

# name -> kubectl arguments. Each must make exactly one write request.
COMMANDS = {
    "create_namespace": ["create", "namespace", "demo"],
    "create_configmap": ["create", "configmap", "c", "--from-literal=a=b", "--from-literal=empty="],
    "create_secret": ["create", "secret", "generic", "s", "--from-literal=password=hunter2", "--type=Opaque"],
    "create_deployment": ["create", "deployment", "d", "--image=busybox", "--replicas=0", "--port=8080"],
    "run_pod": ["run", "p", "--image=busybox", "--restart=Never", "--labels=app=p", "--env=MODE=prod",
                "--port=80", "--", "sleep", "3600"],
    "create_service": ["create", "service", "clusterip", "web", "--tcp=80:8080"],
    "create_job": ["create", "job", "j", "--image=busybox", "--", "date"],
    "create_cronjob": ["create", "cronjob", "cj", "--image=busybox", "--schedule=*/5 * * * *"],
    "create_serviceaccount": ["create", "serviceaccount", "sa"],
    "create_role": ["create", "role", "r", "--verb=get,list", "--resource=pods"],
    "create_rolebinding": ["create", "rolebinding", "rb", "--role=r", "--user=alice", "--serviceaccount=default:sa"],
    "create_quota": ["create", "quota", "q", "--hard=cpu=1,memory=1Gi,pods=10"],
    "create_pdb": ["create", "pdb", "pdb", "--selector=app=web", "--min-available=50%"],
    "create_priorityclass": ["create", "priorityclass", "high", "--value=1000", "--description=important"],
    "create_ingress": ["create", "ingress", "ing", "--rule=example.com/=web:80"],
    "create_configmap_binary": ["create", "configmap", "bin", "--from-file=blob={tmp}/blob.bin"],
    "create_token": ["create", "token", "sa", "--duration=1h", "--audience=api"],
    # These read an object first (GET_OBJECTS below), then write.
    "expose_deployment": ["expose", "deployment", "d", "--port=80", "--target-port=8080", "--name=d-svc"],
    "autoscale_deployment": ["autoscale", "deployment", "d", "--min=1", "--max=5", "--cpu-percent=80"],
    "certificate_approve": ["certificate", "approve", "csr1"],
    "auth_can_i": ["auth", "can-i", "get", "pods"],
    "delete_namespace": ["delete", "namespace", "demo", "--wait=false", "--grace-period=0", "--force"],
}

RESOURCES = {
    "/api/v1": ("v1", [
        ("namespaces", "Namespace", False), ("configmaps", "ConfigMap", True), ("secrets", "Secret", True),
        ("pods", "Pod", True), ("services", "Service", True), ("serviceaccounts", "ServiceAccount", True),
        ("serviceaccounts/token", "TokenRequest", True), ("resourcequotas", "ResourceQuota", True),
    ]),
    "/apis/apps/v1": ("apps/v1", [("deployments", "Deployment", True), ("deployments/scale", "Scale", True)]),
    "/apis/batch/v1": ("batch/v1", [("jobs", "Job", True), ("cronjobs", "CronJob", True)]),
    "/apis/policy/v1": ("policy/v1", [("poddisruptionbudgets", "PodDisruptionBudget", True)]),
    "/apis/scheduling.k8s.io/v1": ("scheduling.k8s.io/v1", [("priorityclasses", "PriorityClass", False)]),
    "/apis/networking.k8s.io/v1": ("networking.k8s.io/v1", [("ingresses", "Ingress", True)]),
    "/apis/rbac.authorization.k8s.io/v1": ("rbac.authorization.k8s.io/v1", [
        ("roles", "Role", True), ("rolebindings", "RoleBinding", True),
    ]),
    "/apis/authorization.k8s.io/v1": ("authorization.k8s.io/v1", [
        ("selfsubjectaccessreviews", "SelfSubjectAccessReview", False),
    ]),
    "/apis/authentication.k8s.io/v1": ("authentication.k8s.io/v1", [("tokenreviews", "TokenReview", False)]),
    "/apis/autoscaling/v2": ("autoscaling/v2", [("horizontalpodautoscalers", "HorizontalPodAutoscaler", True)]),
    "/apis/certificates.k8s.io/v1": ("certificates.k8s.io/v1", [
        ("certificatesigningrequests", "CertificateSigningRequest", False),
        ("certificatesigningrequests/approval", "CertificateSigningRequest", False),
    ]),
}

GET_OBJECTS = {
    "/apis/apps/v1/namespaces/default/deployments/d": {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "d", "namespace": "default", "uid": "0b6c2c43-0000-4000-8000-000000000001",
                     "resourceVersion": "7", "creationTimestamp": "2024-01-02T03:04:05Z", "labels": {"app": "d"}},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "d"}},
                 "template": {"metadata": {"labels": {"app": "d"}},
                              "spec": {"containers": [{"name": "busybox", "image": "busybox",
                                                       "ports": [{"containerPort": 8080}]}]}}},
    },
    "/apis/certificates.k8s.io/v1/certificatesigningrequests/csr1": {
        "apiVersion": "certificates.k8s.io/v1", "kind": "CertificateSigningRequest",
        "metadata": {"name": "csr1", "uid": "0b6c2c43-0000-4000-8000-000000000002", "resourceVersion": "9",
                     "creationTimestamp": "2024-01-02T03:04:05Z"},
        "spec": {"request": "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURSBSRVFVRVNULS0tLS0K",
                 "signerName": "kubernetes.io/kube-apiserver-client", "expirationSeconds": 86400,
                 "usages": ["client auth"], "username": "alice", "groups": ["system:authenticated"],
                 "extra": {"scopes": ["a", "b"]}},
        "status": {},
    },
}


def discovery(path):
    if path == "/api":
        return {"kind": "APIVersions", "versions": ["v1"],
                "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}]}
    if path == "/apis":
        groups = []
        for p, (gv, _) in RESOURCES.items():
            if p.startswith("/apis/"):
                group, version = gv.split("/")
                v = {"groupVersion": gv, "version": version}
                groups.append({"name": group, "versions": [v], "preferredVersion": v})
        return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}
    if path in RESOURCES:
        gv, resources = RESOURCES[path]
        verbs = ["create", "delete", "get", "list", "patch", "update", "watch"]
        return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": [
            {"name": n, "singularName": "", "namespaced": ns, "kind": k, "verbs": verbs} for n, k, ns in resources
        ]}
    return None


class Handler(http.server.BaseHTTPRequestHandler):
    captured = []

    def log_message(self, *args):
        pass

    def reply(self, code, obj):
        body = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        path = self.path.split("?")[0]
        obj = GET_OBJECTS.get(path) or discovery(path)
        if obj is None:
            self.reply(404, {"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound",
                             "code": 404, "message": "not found"})
        else:
            self.reply(200, obj)

    def write(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        Handler.captured.append({"method": self.command, "path": self.path,
                                 "content_type": self.headers.get("Content-Type", ""), "body": body})
        # Echo a plausible object so kubectl reports success.
        reply = {"apiVersion": "v1", "kind": "Status", "status": "Success", "metadata": {"name": "x"}}
        if "selfsubjectaccessreviews" in self.path:
            reply = {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
                     "metadata": {}, "spec": {}, "status": {"allowed": True}}
        elif self.path.split("?")[0].endswith("/token"):
            reply = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "metadata": {},
                     "spec": {"audiences": []}, "status": {"token": "t", "expirationTimestamp": "2030-01-01T00:00:00Z"}}
        self.reply(201 if self.command == "POST" else 200, reply)

    do_POST = do_PUT = do_DELETE = do_PATCH = write


def drop_nulls(value):
    if isinstance(value, dict):
        return {k: drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [drop_nulls(v) for v in value]
    return value


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kubectl", default="/usr/bin/kubectl")
    root = Path(__file__).resolve().parents[2]
    ap.add_argument("--out", default=root / "crates/api/tests/fixtures/protobuf")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    version = subprocess.run([args.kubectl, "version", "--client", "-o", "json"], capture_output=True, text=True)
    index = {"kubectl": json.loads(version.stdout)["clientVersion"]["gitVersion"], "requests": {}}
    with tempfile.TemporaryDirectory() as tmp:
        kubeconfig = Path(tmp) / "config"
        kubeconfig.write_text(json.dumps({
            "apiVersion": "v1", "kind": "Config", "current-context": "capture",
            "clusters": [{"name": "capture", "cluster": {"server": f"http://127.0.0.1:{port}"}}],
            "users": [{"name": "capture", "user": {}}],
            "contexts": [{"name": "capture", "context": {"cluster": "capture", "user": "capture",
                                                         "namespace": "default"}}],
        }))
        env = dict(os.environ, KUBECONFIG=str(kubeconfig), HOME=tmp)
        # Bytes that are not UTF-8, so kubectl puts them in binaryData.
        (Path(tmp) / "blob.bin").write_bytes(bytes([0, 159, 146, 150, 255, 1]))
        for name, argv in COMMANDS.items():
            argv = [a.replace("{tmp}", tmp) for a in argv]
            Handler.captured = []
            run = subprocess.run([args.kubectl, *argv], env=env, capture_output=True, text=True, timeout=60)
            writes = [c for c in Handler.captured if c["method"] != "GET"]
            if len(writes) != 1:
                print(f"{name}: {len(writes)} write requests (exit {run.returncode}): {run.stderr.strip()}",
                      file=sys.stderr)
                continue
            w = writes[0]
            # Only protobuf bodies become fixtures; JSON ones (kubectl run, delete) are just listed.
            if w["content_type"] == "application/vnd.kubernetes.protobuf":
                (out / f"{name}.pb").write_bytes(w["body"])
            index["requests"][name] = {"command": "kubectl " + " ".join(argv), "method": w["method"],
                                       "path": w["path"], "content_type": w["content_type"]}
            print(f"{name}: {w['method']} {w['path']} {w['content_type']} ({len(w['body'])} bytes)")
            # The oracle: kubectl's own JSON rendering of the object it just sent (Go's
            # encoding/json), with nulls dropped since the decoder leaves zero times out.
            if w["content_type"] != "application/vnd.kubernetes.protobuf":
                continue
            cut = argv.index("--") if "--" in argv else len(argv)  # flags go before the container command
            dry_argv = argv[:cut] + ["--dry-run=client", "-o", "json"] + argv[cut:]
            dry = subprocess.run([args.kubectl, *dry_argv], env=env,
                                 capture_output=True, text=True, timeout=60)
            if dry.returncode == 0 and dry.stdout.startswith("{"):  # not every command has -o json
                expected = drop_nulls(json.loads(dry.stdout))
                (out / f"{name}.json").write_text(json.dumps(expected, indent=2, sort_keys=True) + "\n")
    (out / "index.json").write_text(json.dumps(index, indent=2) + "\n")
    server.shutdown()


if __name__ == "__main__":
    main()

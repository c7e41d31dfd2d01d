"""The official Python `kubernetes` client against a running skiff server.

Run by crates/skiff/tests/python_client.rs, which starts the server and sets
KUBECONFIG. Exits non-zero when any check fails (plain unittest, no plugins).
"""

import json
import os
import sys
import threading
import time
import unittest

from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException

NS = "pyclient"


def setUpModule():
    config.load_kube_config(config_file=os.environ["KUBECONFIG"])
    core = client.CoreV1Api()
    try:
        core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=NS)))
    except ApiException as e:
        if e.status != 409:
            raise


def status_of(e: ApiException) -> dict:
    return json.loads(e.body)


def raw(method, path, body=None, content_type=None, query=None):
    """A request the typed API does not offer (chosen patch types, watch
    parameters); returns (status, parsed JSON or text lines)."""
    api = client.ApiClient()
    headers = {"Accept": "application/json"}
    if content_type:
        headers["Content-Type"] = content_type
    params = api.param_serialize(method=method, resource_path=path, query_params=query or [],
                                 header_params=headers, body=body, auth_settings=["BearerToken"])
    resp = api.call_api(*params)
    data = resp.read()
    try:
        return resp.status, json.loads(data)
    except ValueError:
        return resp.status, data.decode().splitlines()


class Discovery(unittest.TestCase):
    def test_every_group_version_is_discoverable(self):
        api = client.ApisApi()
        groups = api.get_api_versions().groups
        names = {g.name for g in groups}
        for expected in ["apps", "batch", "autoscaling", "policy", "networking.k8s.io", "discovery.k8s.io",
                         "coordination.k8s.io", "rbac.authorization.k8s.io", "scheduling.k8s.io",
                         "storage.k8s.io", "events.k8s.io", "node.k8s.io", "certificates.k8s.io",
                         "admissionregistration.k8s.io"]:
            self.assertIn(expected, names)
        core = client.CoreApi().get_api_versions()
        self.assertEqual(core.versions, ["v1"])
        # The client's typed resource lists must parse for every group-version
        # (it rejects entries without name, namespaced, kind, verbs, singularName).
        for api in [client.CoreV1Api, client.AppsV1Api, client.BatchV1Api, client.AutoscalingV1Api,
                    client.AutoscalingV2Api, client.PolicyV1Api, client.NetworkingV1Api, client.DiscoveryV1Api,
                    client.CoordinationV1Api, client.RbacAuthorizationV1Api, client.SchedulingV1Api,
                    client.StorageV1Api, client.EventsV1Api, client.NodeV1Api, client.CertificatesV1Api,
                    client.AdmissionregistrationV1Api, client.AuthenticationV1Api, client.AuthorizationV1Api]:
            resources = api().get_api_resources().resources
            self.assertTrue(resources, api.__name__)
        core_list = client.CoreV1Api().get_api_resources()
        self.assertIn("pods", {r.name for r in core_list.resources})


class Crud(unittest.TestCase):
    def setUp(self):
        self.core = client.CoreV1Api()

    def test_error_codes(self):
        with self.assertRaises(ApiException) as e:
            self.core.read_namespaced_config_map("missing", NS)
        self.assertEqual(e.exception.status, 404)
        self.assertEqual(status_of(e.exception)["reason"], "NotFound")

        cm = client.V1ConfigMap(metadata=client.V1ObjectMeta(name="dup"), data={"a": "1"})
        created = self.core.create_namespaced_config_map(NS, cm)
        with self.assertRaises(ApiException) as e:
            self.core.create_namespaced_config_map(NS, cm)
        self.assertEqual(e.exception.status, 409)
        self.assertEqual(status_of(e.exception)["reason"], "AlreadyExists")

        stale = created
        self.core.patch_namespaced_config_map("dup", NS, {"data": {"a": "2"}})
        stale.data = {"a": "3"}
        with self.assertRaises(ApiException) as e:
            self.core.replace_namespaced_config_map("dup", NS, stale)
        self.assertEqual(e.exception.status, 409)
        self.assertEqual(status_of(e.exception)["reason"], "Conflict")

        bad = client.V1Pod(metadata=client.V1ObjectMeta(name="bad"),
                           spec=client.V1PodSpec(containers=[client.V1Container(name="c", image="")]))
        with self.assertRaises(ApiException) as e:
            self.core.create_namespaced_pod(NS, bad)
        self.assertEqual(e.exception.status, 422)
        body = status_of(e.exception)
        self.assertEqual(body["reason"], "Invalid")
        self.assertIn("spec.containers[0].image", [c["field"] for c in body["details"]["causes"]])

    def test_patch_types(self):
        self.core.create_namespaced_config_map(NS, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="p"), data={"a": "1"}))
        path = f"/api/v1/namespaces/{NS}/configmaps/p"

        def patch(body, content_type):
            status, out = raw("PATCH", path, body=body, content_type=content_type)
            return status, out.get("data", {}) if isinstance(out, dict) else out

        self.assertEqual(patch({"data": {"b": "2"}}, "application/merge-patch+json"), (200, {"a": "1", "b": "2"}))
        self.assertEqual(patch({"data": {"c": "3"}}, "application/strategic-merge-patch+json")[1]["c"], "3")
        status, data = patch([{"op": "remove", "path": "/data/a"}], "application/json-patch+json")
        self.assertEqual(status, 200)
        self.assertNotIn("a", data)
        # The client refuses to send an unknown patch type itself; go below it.
        api = client.ApiClient()
        resp = api.rest_client.pool_manager.request(
            "PATCH", api.configuration.host + path, body=b'{"data":{}}',
            headers={"Content-Type": "application/x-bogus", "Accept": "application/json"})
        self.assertEqual(resp.status, 415)
        self.assertEqual(json.loads(resp.data)["kind"], "Status")

        apps = client.AppsV1Api()
        dep = {
            "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
            "spec": {"selector": {"matchLabels": {"app": "d"}},
                     "template": {"metadata": {"labels": {"app": "d"}},
                                  "spec": {"containers": [{"name": "c", "image": "busybox:1"}]}}},
        }
        apps.create_namespaced_deployment(NS, dep)
        out = apps.patch_namespaced_deployment("d", NS, {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "busybox:2"}]}}}})
        self.assertEqual(out.spec.template.spec.containers[0].image, "busybox:2")
        scaled = apps.patch_namespaced_deployment_scale("d", NS, {"spec": {"replicas": 3}})
        self.assertEqual(scaled.spec.replicas, 3)

    def test_list_pagination(self):
        for i in range(25):
            self.core.create_namespaced_config_map(NS, client.V1ConfigMap(
                metadata=client.V1ObjectMeta(name=f"page-{i:02d}", labels={"set": "paging"})))
        names, token, pages, rvs = [], None, 0, set()
        while True:
            resp = self.core.list_namespaced_config_map(NS, label_selector="set=paging", limit=10, _continue=token)
            pages += 1
            rvs.add(resp.metadata.resource_version)
            names += [c.metadata.name for c in resp.items]
            token = resp.metadata._continue
            if not token:
                break
        self.assertEqual(names, [f"page-{i:02d}" for i in range(25)])
        self.assertEqual(pages, 3)
        self.assertEqual(len(rvs), 1, "every page is served at the first page's resourceVersion")
        with self.assertRaises(ApiException) as e:
            self.core.list_namespaced_config_map(NS, limit=5, _continue="not-a-token")
        self.assertEqual(e.exception.status, 400)


class Watches(unittest.TestCase):
    def setUp(self):
        self.core = client.CoreV1Api()

    def test_watch_with_bookmarks(self):
        rv = self.core.list_namespaced_config_map(NS).metadata.resource_version

        def later():
            time.sleep(1)
            self.core.create_namespaced_config_map(NS, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="watched")))

        threading.Thread(target=later).start()
        seen = []
        w = watch.Watch()
        for event in w.stream(self.core.list_namespaced_config_map, NS, resource_version=rv,
                              allow_watch_bookmarks=True, timeout_seconds=15):
            seen.append((event["type"], event["object"].metadata.name))
            if event["type"] == "ADDED" and event["object"].metadata.name == "watched":
                w.stop()
        self.assertIn(("ADDED", "watched"), seen)

    def test_watch_from_too_old_resource_version_is_410(self):
        status, lines = raw("GET", f"/api/v1/namespaces/{NS}/configmaps",
                            query=[("watch", "true"), ("resourceVersion", "1"), ("timeoutSeconds", "5")])
        # The watch cache keeps history from when the server started (and a bounded
        # window after that); the server was restarted on its data before this suite
        # (python_client.rs), so revision 1 is before it: the answer is 200 followed
        # by an ERROR event carrying a 410 Expired Status.
        self.assertEqual(status, 200)
        first = lines if isinstance(lines, dict) else json.loads(lines[0])
        self.assertEqual(first["type"], "ERROR")
        self.assertEqual(first["object"]["code"], 410)
        self.assertEqual(first["object"]["reason"], "Expired")


if __name__ == "__main__":
    result = unittest.main(exit=False, verbosity=2).result
    ok = result.wasSuccessful()
    print(f"{result.testsRun - len(result.failures) - len(result.errors)} passed, {len(result.failures) + len(result.errors)} failed")
    sys.exit(0 if ok else 1)

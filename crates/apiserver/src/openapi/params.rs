//! The parameters operations take, named and typed as upstream's; descriptions are ours.

/// Where a parameter goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum In {
    Path,
    Query,
}

/// One parameter of an operation or a path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Param {
    pub name: &'static str,
    pub location: In,
    /// The OpenAPI primitive type: `string`, `integer` or `boolean`.
    pub kind: &'static str,
    pub description: String,
}

impl Param {
    fn query(name: &'static str, kind: &'static str, description: &str) -> Param {
        Param { name, location: In::Query, kind, description: description.into() }
    }

    fn path(name: &'static str, description: String) -> Param {
        Param { name, location: In::Path, kind: "string", description }
    }
}

pub(super) fn name(kind: &str) -> Param {
    Param::path("name", format!("name of the {kind}"))
}

pub(super) fn namespace() -> Param {
    Param::path("namespace", "object name and auth scope, such as for teams and projects".into())
}

pub(super) fn proxy_path() -> Param {
    Param::path("path", "path to the resource".into())
}

pub(super) fn pretty() -> Param {
    Param::query("pretty", "string", "If 'true', the output is pretty printed.")
}

fn dry_run() -> Param {
    Param::query(
        "dryRun",
        "string",
        "When present, the request is processed in full but nothing is persisted. The only valid value is All.",
    )
}

fn field_manager() -> Param {
    Param::query(
        "fieldManager",
        "string",
        "The name of the actor making these changes, recorded in managedFields. \
         At most 128 printable characters.",
    )
}

/// The parameter kubectl looks for on PATCH operations to decide whether the server
/// validates fields itself.
pub(super) fn field_validation() -> Param {
    Param::query(
        "fieldValidation",
        "string",
        "What to do with fields of the body that its type does not define: Ignore drops them silently; \
         Warn (the default) drops them and returns one Warning header per field; Strict fails the \
         request with 400 Bad Request naming every unknown field.",
    )
}

/// `dryRun`, `fieldManager`, `fieldValidation`: what create and replace take.
pub(super) fn write() -> Vec<Param> {
    vec![dry_run(), field_manager(), field_validation()]
}

/// What patch takes: the write parameters plus `force`.
pub(super) fn patch() -> Vec<Param> {
    let mut params = write();
    params.push(Param::query(
        "force",
        "boolean",
        "Take over fields owned by other managers (apply patches only; must be unset for other patch types).",
    ));
    params
}

/// What list, watch and deletecollection take.
pub(super) fn list() -> Vec<Param> {
    vec![
        Param::query("allowWatchBookmarks", "boolean", "Ask for BOOKMARK events in a watch."),
        Param::query("continue", "string", "The token of the next page, from the previous page's metadata."),
        Param::query("fieldSelector", "string", "Select objects by their fields. Defaults to everything."),
        Param::query("labelSelector", "string", "Select objects by their labels. Defaults to everything."),
        Param::query("limit", "integer", "The most objects to return in one page."),
        Param::query("resourceVersion", "string", "Which version of the collection to read or to watch from."),
        Param::query("resourceVersionMatch", "string", "How resourceVersion applies: Exact or NotOlderThan."),
        Param::query(
            "sendInitialEvents",
            "boolean",
            "Start a watch with the current objects, ended by a bookmark annotated \
             k8s.io/initial-events-end.",
        ),
        Param::query("timeoutSeconds", "integer", "End the list or watch after this many seconds."),
        Param::query("watch", "boolean", "Watch for changes instead of listing."),
    ]
}

/// What delete takes (deletecollection takes these and the list parameters).
pub(super) fn delete() -> Vec<Param> {
    vec![
        dry_run(),
        Param::query("gracePeriodSeconds", "integer", "How long the object may take to terminate, in seconds."),
        Param::query("orphanDependents", "boolean", "Deprecated: use propagationPolicy."),
        Param::query("propagationPolicy", "string", "What happens to dependents: Orphan, Background or Foreground."),
    ]
}

/// The query parameters of `pods/log`.
pub(super) fn log() -> Vec<Param> {
    vec![
        Param::query("container", "string", "The container to read; optional when the pod has one."),
        Param::query("follow", "boolean", "Keep streaming as the container writes."),
        Param::query("insecureSkipTLSVerifyBackend", "boolean", "Do not verify the kubelet's serving certificate."),
        Param::query("limitBytes", "integer", "Stop after this many bytes."),
        Param::query("previous", "boolean", "Read the previous, terminated instance of the container."),
        Param::query("sinceSeconds", "integer", "Only lines from the last this many seconds."),
        Param::query("tailLines", "integer", "Only this many lines from the end."),
        Param::query("timestamps", "boolean", "Prefix each line with its RFC 3339 timestamp."),
    ]
}

/// The query parameters of a connect subresource (`exec`, `attach`, `portforward`, `proxy`).
pub(super) fn connect(subresource: &str) -> Vec<Param> {
    let streams = || {
        vec![
            Param::query("container", "string", "The container to connect to; optional when the pod has one."),
            Param::query("stderr", "boolean", "Stream the container's standard error."),
            Param::query("stdin", "boolean", "Stream standard input to the container."),
            Param::query("stdout", "boolean", "Stream the container's standard output."),
            Param::query("tty", "boolean", "Allocate a terminal."),
        ]
    };
    match subresource {
        "exec" => {
            let mut params = vec![Param::query("command", "string", "The command to run, one argument per value.")];
            params.extend(streams());
            params
        }
        "attach" => streams(),
        "portforward" => vec![Param::query("ports", "integer", "The pod ports to forward.")],
        "proxy" => vec![Param::query("path", "string", "The URL path to proxy to.")],
        _ => Vec::new(),
    }
}

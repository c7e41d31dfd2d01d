//! Content negotiation: what a client sends (`Content-Type`) and what it wants back
//! (`Accept`), including the `as=Table` form kubectl asks for.

use skiff_api::ApiError;

/// The form of a response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Output {
    Json,
    Yaml,
    /// `meta.k8s.io/v1 Table` (kubectl get).
    Table,
    /// `PartialObjectMetadata(List)`: objects reduced to their metadata.
    Metadata,
}

/// Picks the response form from an `Accept` header: the first acceptable entry
/// wins. Protobuf is accepted but answered as JSON (the contract allows it).
pub fn output(accept: Option<&str>) -> Result<Output, ApiError> {
    let Some(accept) = accept.filter(|a| !a.trim().is_empty()) else { return Ok(Output::Json) };
    for entry in accept.split(',') {
        let mut parts = entry.split(';').map(str::trim);
        let media = parts.next().unwrap_or("").to_ascii_lowercase();
        let params: Vec<(String, String)> = parts
            .filter_map(|p| p.split_once('=').map(|(k, v)| (k.trim().to_string(), v.trim().to_string())))
            .collect();
        let param = |k: &str| params.iter().find(|(pk, _)| pk == k).map(|(_, v)| v.as_str());
        match param("as") {
            Some("Table") if param("g") == Some("meta.k8s.io") && matches!(param("v"), Some("v1" | "v1beta1")) => {
                return Ok(Output::Table)
            }
            Some("PartialObjectMetadata" | "PartialObjectMetadataList")
                if param("g") == Some("meta.k8s.io") && matches!(param("v"), Some("v1" | "v1beta1")) =>
            {
                return Ok(Output::Metadata)
            }
            // An `as=` we do not serve: try the next entry.
            Some(_) => continue,
            None => {}
        }
        match media.as_str() {
            "application/json" | "application/*" | "*/*" | "application/vnd.kubernetes.protobuf"
            | "application/json-patch+json" | "application/merge-patch+json" => return Ok(Output::Json),
            "application/yaml" => return Ok(Output::Yaml),
            _ => continue,
        }
    }
    Err(ApiError::NotAcceptable(format!(
        "only the following media types are accepted: application/json, application/yaml, application/vnd.kubernetes.protobuf (requested {accept:?})"
    )))
}

/// The encoding of a request body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyFormat {
    Json,
    Yaml,
    Protobuf,
}

/// How a PATCH body is to be applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PatchType {
    Json,
    Merge,
    Strategic,
    Apply,
}

fn media_type(content_type: Option<&str>) -> String {
    content_type.unwrap_or("").split(';').next().unwrap_or("").trim().to_ascii_lowercase()
}

/// The format of a create/update body. A missing Content-Type is read as JSON.
pub fn body_format(content_type: Option<&str>) -> Result<BodyFormat, ApiError> {
    match media_type(content_type).as_str() {
        "" | "application/json" => Ok(BodyFormat::Json),
        "application/yaml" => Ok(BodyFormat::Yaml),
        "application/vnd.kubernetes.protobuf" => Ok(BodyFormat::Protobuf),
        other => Err(ApiError::UnsupportedMediaType(format!(
            "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf (got {other:?})"
        ))),
    }
}

pub fn patch_type(content_type: Option<&str>) -> Result<PatchType, ApiError> {
    match media_type(content_type).as_str() {
        "application/json-patch+json" => Ok(PatchType::Json),
        "application/merge-patch+json" => Ok(PatchType::Merge),
        "application/strategic-merge-patch+json" => Ok(PatchType::Strategic),
        "application/apply-patch+yaml" | "application/apply-patch+cbor" => Ok(PatchType::Apply),
        other => Err(ApiError::UnsupportedMediaType(format!(
            "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json (got {other:?})"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubectl_get_asks_for_tables() {
        let accept = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";
        assert_eq!(output(Some(accept)).unwrap(), Output::Table);
    }

    #[test]
    fn plain_and_protobuf_accepts_are_json() {
        assert_eq!(output(None).unwrap(), Output::Json);
        assert_eq!(output(Some("application/vnd.kubernetes.protobuf,application/json")).unwrap(), Output::Json);
        assert_eq!(output(Some("application/yaml")).unwrap(), Output::Yaml);
        assert_eq!(output(Some("application/json;as=Unknown;g=x;v=y,*/*")).unwrap(), Output::Json);
        assert!(output(Some("text/html")).is_err());
    }

    #[test]
    fn body_and_patch_types() {
        assert_eq!(body_format(Some("application/json; charset=utf-8")).unwrap(), BodyFormat::Json);
        assert_eq!(body_format(Some("application/vnd.kubernetes.protobuf")).unwrap(), BodyFormat::Protobuf);
        assert_eq!(body_format(Some("text/plain")).unwrap_err().code(), 415);
        assert_eq!(patch_type(Some("application/strategic-merge-patch+json")).unwrap(), PatchType::Strategic);
        assert_eq!(patch_type(Some("application/json")).unwrap_err().code(), 415);
    }
}

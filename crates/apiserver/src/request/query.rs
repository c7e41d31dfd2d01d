//! Query parameters of API requests, parsed once into typed options.

use skiff_api::selector::{FieldSelector, LabelSelector};
use skiff_api::ApiError;

/// The raw query, as ordered pairs (a key may repeat, e.g. `dryRun`).
#[derive(Clone, Debug, Default)]
pub struct Query(Vec<(String, String)>);

impl Query {
    pub fn parse(raw: Option<&str>) -> Query {
        Query(form_urlencoded::parse(raw.unwrap_or("").as_bytes()).into_owned().collect())
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// `true` for `1`, `true` (any case) and a present empty value, like Go's
    /// query decoding of booleans.
    pub fn flag(&self, key: &str) -> bool {
        self.get(key).is_some_and(|v| v.is_empty() || v == "1" || v.eq_ignore_ascii_case("true"))
    }

    pub fn all<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0.iter().filter(move |(k, _)| k == key).map(|(_, v)| v.as_str())
    }
}

/// How to read a list or start a watch.
#[derive(Clone, Debug, Default)]
pub struct ListOptions {
    pub label_selector: LabelSelector,
    pub field_selector: FieldSelector,
    pub limit: Option<usize>,
    pub continue_token: Option<String>,
    pub resource_version: Option<String>,
    pub resource_version_match: Option<String>,
    pub timeout_seconds: Option<u64>,
    pub allow_watch_bookmarks: bool,
    pub send_initial_events: Option<bool>,
}

impl ListOptions {
    pub fn from_query(q: &Query) -> Result<ListOptions, ApiError> {
        let label_selector = LabelSelector::parse(q.get("labelSelector").unwrap_or(""))
            .map_err(|e| ApiError::BadRequest(format!("unable to parse requirement: {}", e.0)))?;
        let field_selector =
            FieldSelector::parse(q.get("fieldSelector").unwrap_or("")).map_err(|e| ApiError::BadRequest(e.to_string()))?;
        let limit = match q.get("limit") {
            None | Some("") => None,
            Some(l) => match l.parse::<i64>() {
                Ok(n) if n > 0 => Some(n as usize),
                Ok(_) => None,
                Err(_) => return Err(ApiError::BadRequest(format!("invalid limit {l:?}: must be an integer"))),
            },
        };
        let timeout_seconds = match q.get("timeoutSeconds") {
            None | Some("") => None,
            Some(t) => Some(t.parse::<u64>().map_err(|_| ApiError::BadRequest(format!("invalid timeoutSeconds {t:?}")))?),
        };
        let send_initial_events = match q.get("sendInitialEvents") {
            None | Some("") => None,
            Some(_) => Some(q.flag("sendInitialEvents")),
        };
        let non_empty = |k: &str| q.get(k).filter(|v| !v.is_empty()).map(String::from);
        Ok(ListOptions {
            label_selector,
            field_selector,
            limit,
            continue_token: non_empty("continue"),
            resource_version: non_empty("resourceVersion"),
            resource_version_match: non_empty("resourceVersionMatch"),
            timeout_seconds,
            allow_watch_bookmarks: q.flag("allowWatchBookmarks"),
            send_initial_events,
        })
    }
}

/// `fieldValidation`: what to do with unknown or duplicate fields in a body.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FieldValidation {
    Ignore,
    #[default]
    Warn,
    Strict,
}

/// Options of writes: create, update, patch, delete.
#[derive(Clone, Debug, Default)]
pub struct WriteOptions {
    pub dry_run: bool,
    pub field_manager: Option<String>,
    pub field_validation: FieldValidation,
    pub force: bool,
}

impl WriteOptions {
    pub fn from_query(q: &Query) -> Result<WriteOptions, ApiError> {
        let mut dry_run = false;
        for d in q.all("dryRun") {
            match d {
                "All" => dry_run = true,
                "" => {}
                other => return Err(ApiError::BadRequest(format!("Invalid dry run value: {other:?}; supported: \"All\""))),
            }
        }
        let field_validation = match q.get("fieldValidation") {
            None | Some("") => FieldValidation::Warn,
            Some(v) if v.eq_ignore_ascii_case("Strict") => FieldValidation::Strict,
            Some(v) if v.eq_ignore_ascii_case("Warn") => FieldValidation::Warn,
            Some(v) if v.eq_ignore_ascii_case("Ignore") => FieldValidation::Ignore,
            Some(v) => {
                return Err(ApiError::BadRequest(format!(
                    "fieldValidation parameter unsupported: {v}. Only Ignore, Warn, and Strict are supported"
                )))
            }
        };
        let field_manager = q.get("fieldManager").filter(|m| !m.is_empty()).map(String::from);
        if let Some(m) = &field_manager {
            if m.len() > 128 || m.chars().any(|c| !(' '..='~').contains(&c)) {
                return Err(ApiError::BadRequest(
                    "fieldManager: Invalid value: must be at most 128 printable characters".into(),
                ));
            }
        }
        Ok(WriteOptions { dry_run, field_manager, field_validation, force: q.flag("force") })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_list_options() {
        let q = Query::parse(Some("labelSelector=app%3Dweb&limit=500&continue=abc&watch=1&allowWatchBookmarks=true"));
        let o = ListOptions::from_query(&q).unwrap();
        assert_eq!(o.limit, Some(500));
        assert_eq!(o.continue_token.as_deref(), Some("abc"));
        assert!(o.allow_watch_bookmarks);
        assert!(q.flag("watch"));
        assert!(!o.label_selector.is_empty());
        assert!(ListOptions::from_query(&Query::parse(Some("labelSelector=a%20in%20"))).is_err());
        assert!(ListOptions::from_query(&Query::parse(Some("limit=x"))).is_err());
    }

    #[test]
    fn parses_write_options() {
        let o = WriteOptions::from_query(&Query::parse(Some("dryRun=All&fieldManager=kubectl&fieldValidation=Strict"))).unwrap();
        assert!(o.dry_run);
        assert_eq!(o.field_validation, FieldValidation::Strict);
        assert!(WriteOptions::from_query(&Query::parse(Some("dryRun=Some"))).is_err());
        assert!(WriteOptions::from_query(&Query::parse(Some("fieldValidation=Loud"))).is_err());
    }
}

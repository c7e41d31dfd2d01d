//! Webhook URLs as upstream's `webhook.ValidateWebhookURL` reads them: through Go's
//! `net/url.Parse`, whose error texts and notion of host, user, query and
//! fragment decide the causes.

use serde_json::json;

use crate::Cause;

const FORM: &str = "; desired format: https://host[/path]";

/// The parts of a parsed URL the checks look at.
#[derive(Debug, Default, PartialEq, Eq)]
struct Url {
    scheme: String,
    host: String,
    /// `Userinfo.String()`, when the URL has user information.
    user: Option<String>,
    fragment: String,
    raw_query: String,
}

/// `ValidateWebhookURL` with `forceHttps`.
pub(super) fn webhook_url(url: &str, at: &str, causes: &mut Vec<Cause>) {
    let u = match parse(url) {
        Ok(u) => u,
        Err(e) => {
            causes.push(Cause::required_because(at, format!("url must be a valid URL: {e}{FORM}")));
            return;
        }
    };
    if u.scheme != "https" {
        causes.push(Cause::invalid(at, &json!(u.scheme), format!("'https' is the only allowed URL scheme{FORM}")));
    }
    if u.host.is_empty() {
        causes.push(Cause::invalid(at, &json!(""), format!("host must be specified{FORM}")));
    }
    if let Some(user) = u.user {
        causes.push(Cause::invalid(at, &json!(user), "user information is not permitted in the URL"));
    }
    if !u.fragment.is_empty() {
        causes.push(Cause::invalid(at, &json!(u.fragment), "fragments are not permitted in the URL"));
    }
    if !u.raw_query.is_empty() {
        causes.push(Cause::invalid(at, &json!(u.raw_query), "query parameters are not permitted in the URL"));
    }
}

/// Go's `url.Parse`; errors read as its `*url.Error` does (`parse "<url>": <why>`).
fn parse(raw: &str) -> Result<Url, String> {
    let (u, frag) = raw.split_once('#').map_or((raw, None), |(u, f)| (u, Some(f)));
    let mut url = parse_no_fragment(u).map_err(|e| format!("parse {:?}: {e}", u))?;
    if let Some(frag) = frag.filter(|f| !f.is_empty()) {
        url.fragment = unescape(frag, Mode::Fragment).map_err(|e| format!("parse {:?}: {e}", raw))?;
    }
    Ok(url)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Host,
    Path,
    User,
    Fragment,
}

fn parse_no_fragment(raw: &str) -> Result<Url, String> {
    if raw.bytes().any(|b| b < 0x20 || b == 0x7f) {
        return Err("net/url: invalid control character in URL".into());
    }
    let mut url = Url::default();
    if raw == "*" {
        return Ok(url);
    }
    let (scheme, rest) = scheme(raw)?;
    url.scheme = scheme.to_ascii_lowercase();
    let mut rest = rest.to_string();
    if rest.ends_with('?') && rest.matches('?').count() == 1 {
        rest.pop();
    } else if let Some((before, query)) = rest.clone().split_once('?') {
        url.raw_query = query.to_string();
        rest = before.to_string();
    }
    if !rest.starts_with('/') {
        if !url.scheme.is_empty() {
            // A rootless path after a scheme is opaque: no host at all.
            return Ok(url);
        }
        if rest.split('/').next().is_some_and(|segment| segment.contains(':')) {
            return Err("first path segment in URL cannot contain colon".into());
        }
    }
    if (!url.scheme.is_empty() || !rest.starts_with("///")) && rest.starts_with("//") {
        let authority = &rest[2..];
        let (authority, path) = authority.find('/').map_or((authority, ""), |i| authority.split_at(i));
        let (user, host) = parse_authority(authority)?;
        url.user = user;
        url.host = host;
        unescape(path, Mode::Path)?;
    } else {
        unescape(&rest, Mode::Path)?;
    }
    Ok(url)
}

/// Go's `getScheme`: letters, then letters, digits, `+-.`, up to a colon.
fn scheme(raw: &str) -> Result<(&str, &str), String> {
    for (i, c) in raw.bytes().enumerate() {
        match c {
            b'a'..=b'z' | b'A'..=b'Z' => {}
            b'0'..=b'9' | b'+' | b'-' | b'.' if i > 0 => {}
            b':' if i == 0 => return Err("missing protocol scheme".into()),
            b':' => return Ok((&raw[..i], &raw[i + 1..])),
            _ => return Ok(("", raw)),
        }
    }
    Ok(("", raw))
}

fn parse_authority(authority: &str) -> Result<(Option<String>, String), String> {
    let (userinfo, host) = match authority.rfind('@') {
        Some(i) => (Some(&authority[..i]), &authority[i + 1..]),
        None => (None, authority),
    };
    let host = parse_host(host)?;
    let Some(userinfo) = userinfo else { return Ok((None, host)) };
    let valid = userinfo.chars().all(|c| c.is_ascii_alphanumeric() || "-._:~!$&'()*+,;=%@".contains(c));
    if !valid {
        return Err("net/url: invalid userinfo".into());
    }
    // `Userinfo.String()` escapes what it unescaped, and keeps one colon.
    let shown = match userinfo.split_once(':') {
        None => escape_user(&unescape(userinfo, Mode::User)?),
        Some((user, password)) => {
            format!("{}:{}", escape_user(&unescape(user, Mode::User)?), escape_user(&unescape(password, Mode::User)?))
        }
    };
    Ok((Some(shown), host))
}

fn parse_host(host: &str) -> Result<String, String> {
    let port = if host.starts_with('[') {
        let Some(i) = host.rfind(']') else { return Err("missing ']' in host".into()) };
        &host[i + 1..]
    } else {
        host.rfind(':').map_or("", |i| &host[i..])
    };
    let valid_port = port.is_empty() || port.strip_prefix(':').is_some_and(|p| p.bytes().all(|b| b.is_ascii_digit()));
    if !valid_port {
        return Err(format!("invalid port {port:?} after host"));
    }
    unescape(host, Mode::Host)
}

/// Go's `unescape`: `%XX` escapes must be whole; a host allows only `%25`
/// escapes below 0x80 and no character that would need escaping.
fn unescape(s: &str, mode: Mode) -> Result<String, String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let hex = |c: u8| (c as char).to_digit(16);
                let escape = || {
                    let end = (i + 3).min(b.len());
                    format!("invalid URL escape {:?}", String::from_utf8_lossy(&b[i..end]))
                };
                let (Some(hi), Some(lo)) = (b.get(i + 1).and_then(|c| hex(*c)), b.get(i + 2).and_then(|c| hex(*c)))
                else {
                    return Err(escape());
                };
                if mode == Mode::Host && hi < 8 && &s[i..i + 3] != "%25" {
                    return Err(escape());
                }
                out.push((hi * 16 + lo) as u8);
                i += 3;
            }
            c if mode == Mode::Host && c < 0x80 && host_needs_escape(c) => {
                return Err(format!("invalid character {:?} in host name", (c as char).to_string()));
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

fn host_needs_escape(c: u8) -> bool {
    !(c.is_ascii_alphanumeric() || b"-_.~!$&'()*+,;=:[]<>\"".contains(&c))
}

/// `escape(s, encodeUserPassword)`.
fn escape_user(s: &str) -> String {
    s.bytes()
        .map(|c| {
            let keep = c.is_ascii_alphanumeric() || b"-_.~$&+,;=".contains(&c);
            if keep {
                (c as char).to_string()
            } else {
                format!("%{c:02X}")
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(raw: &str) -> Url {
        parse(raw).unwrap()
    }

    #[test]
    fn urls_parse_as_go_does() {
        let u = parts("https://user:pw@example.com:8443/hook?x=1#frag");
        assert_eq!(
            u,
            Url {
                scheme: "https".into(),
                host: "example.com:8443".into(),
                user: Some("user:pw".into()),
                fragment: "frag".into(),
                raw_query: "x=1".into()
            }
        );
        assert_eq!(parts("HTTPS://h").scheme, "https");
        assert_eq!(parts("https:opaque").host, "");
        assert_eq!(parts("//h/p").host, "h");
        assert_eq!(parts("https://h?").raw_query, "");
        assert_eq!(parts("https://[::1]:443/").host, "[::1]:443");
        assert_eq!(parts("https://a%21b@h").user.as_deref(), Some("a%21b"));
        assert_eq!(parse(":x").unwrap_err(), r#"parse ":x": missing protocol scheme"#);
        assert_eq!(parse("a:b/c").unwrap().host, "");
        assert_eq!(parse("x:y").unwrap().scheme, "x");
        assert_eq!(parse("1a:b").unwrap_err(), r#"parse "1a:b": first path segment in URL cannot contain colon"#);
        assert_eq!(parse("https://h:x").unwrap_err(), r#"parse "https://h:x": invalid port ":x" after host"#);
        assert_eq!(
            parse("https://h\n").unwrap_err(),
            "parse \"https://h\\n\": net/url: invalid control character in URL"
        );
        assert_eq!(parse("https://h/%zz").unwrap_err(), r#"parse "https://h/%zz": invalid URL escape "%zz""#);
        assert_eq!(parse("https://a b/").unwrap_err(), r#"parse "https://a b/": invalid character " " in host name"#);
        assert_eq!(parse("https://[::1/").unwrap_err(), r#"parse "https://[::1/": missing ']' in host"#);
        assert_eq!(parse("https://u\"@h").unwrap_err(), r#"parse "https://u\"@h": net/url: invalid userinfo"#);
    }
}

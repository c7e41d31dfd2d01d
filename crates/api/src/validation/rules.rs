//! Upstream's value checks (`apimachinery/pkg/util/validation`, `api/validation/path`,
//! `apis/meta/v1/validation`) with their messages, one per problem found, so a
//! cause reads exactly as upstream's does.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde_json::{json, Value};

use crate::Cause;

const DNS1123_LABEL_FMT: &str = "[a-z0-9]([-a-z0-9]*[a-z0-9])?";
const DNS1123_SUBDOMAIN_FMT: &str = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*";
const DNS1035_LABEL_FMT: &str = "[a-z]([-a-z0-9]*[a-z0-9])?";
const QUALIFIED_NAME_FMT: &str = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]";
const QUALIFIED_NAME_MSG: &str =
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";

/// Upstream's `RegexError`: the rule, its examples and the regex.
fn regex_error(msg: &str, fmt: &str, examples: &[&str]) -> String {
    let examples: String = examples.iter().map(|e| format!("'{e}', ")).collect::<Vec<_>>().join(" or ");
    if examples.is_empty() {
        format!("{msg} (regex used for validation is '{fmt}')")
    } else {
        format!("{msg} (e.g. {examples}regex used for validation is '{fmt}')")
    }
}

fn max_len(n: usize) -> String {
    format!("must be no more than {n} characters")
}

/// The regexes upstream checks, without their length limits (checked apart).
fn label_re(s: &str, first: fn(u8) -> bool, inner: fn(u8) -> bool) -> bool {
    let b = s.as_bytes();
    !b.is_empty() && first(b[0]) && b[b.len() - 1].is_ascii_alphanumeric() && b.iter().all(|c| inner(*c))
}

fn lower_alnum(c: u8) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit()
}

fn dns_char(c: u8) -> bool {
    lower_alnum(c) || c == b'-'
}

fn dns1123_label_re(s: &str) -> bool {
    label_re(s, lower_alnum, dns_char)
}

fn dns1123_subdomain_re(s: &str) -> bool {
    s.split('.').all(dns1123_label_re)
}

fn qualified_name_re(s: &str) -> bool {
    label_re(s, |c| c.is_ascii_alphanumeric(), |c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
}

pub fn dns1123_label(s: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if s.len() > 63 {
        errs.push(max_len(63));
    }
    if !dns1123_label_re(s) {
        errs.push(if dns1123_subdomain_re(s) {
            "must not contain dots".into()
        } else {
            regex_error(
                "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character",
                DNS1123_LABEL_FMT,
                &["my-name", "123-abc"],
            )
        });
    }
    errs
}

pub fn dns1123_subdomain(s: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if s.len() > 253 {
        errs.push(max_len(253));
    }
    if !dns1123_subdomain_re(s) {
        errs.push(regex_error(
            "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character",
            DNS1123_SUBDOMAIN_FMT,
            &["example.com"],
        ));
    }
    errs
}

/// `*.` then a DNS-1123 subdomain: the only wildcard upstream allows in a host.
pub fn wildcard_dns1123_subdomain(s: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if s.len() > 253 {
        errs.push(max_len(253));
    }
    if !s.strip_prefix("*.").is_some_and(dns1123_subdomain_re) {
        errs.push(regex_error(
            "a wildcard DNS-1123 subdomain must start with '*.', followed by a valid DNS subdomain, which must consist of lower case alphanumeric characters, '-' or '.' and end with an alphanumeric character",
            &format!(r"\*\.{DNS1123_SUBDOMAIN_FMT}"),
            &["*.example.com"],
        ));
    }
    errs
}

pub fn dns1035_label(s: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if s.len() > 63 {
        errs.push(max_len(63));
    }
    if !label_re(s, |c| c.is_ascii_lowercase(), dns_char) {
        errs.push(regex_error(
            "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character",
            DNS1035_LABEL_FMT,
            &["my-name", "abc-123"],
        ));
    }
    errs
}

/// Label keys, annotation keys and the like: an optional subdomain prefix and `/`.
pub fn qualified_name(s: &str) -> Vec<String> {
    let mut errs = Vec::new();
    let parts: Vec<&str> = s.split('/').collect();
    let name = match parts[..] {
        [name] => name,
        [prefix, name] => {
            if prefix.is_empty() {
                errs.push("prefix part must be non-empty".into());
            } else {
                errs.extend(dns1123_subdomain(prefix).into_iter().map(|m| format!("prefix part {m}")));
            }
            name
        }
        _ => {
            return vec![format!(
                "a qualified name {} with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')",
                regex_error(QUALIFIED_NAME_MSG, QUALIFIED_NAME_FMT, &["MyName", "my.name", "123-abc"])
            )]
        }
    };
    if name.is_empty() {
        errs.push("name part must be non-empty".into());
    } else if name.len() > 63 {
        errs.push(format!("name part {}", max_len(63)));
    }
    if !qualified_name_re(name) {
        errs.push(format!(
            "name part {}",
            regex_error(QUALIFIED_NAME_MSG, QUALIFIED_NAME_FMT, &["MyName", "my.name", "123-abc"])
        ));
    }
    errs
}

pub fn label_value(s: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if s.len() > 63 {
        errs.push(max_len(63));
    }
    if !s.is_empty() && !qualified_name_re(s) {
        errs.push(regex_error(
            "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character",
            &format!("({QUALIFIED_NAME_FMT})?"),
            &["MyValue", "my_value", "12345"],
        ));
    }
    errs
}

/// IANA service names, as named ports are.
pub fn port_name(s: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if s.len() > 15 {
        errs.push(max_len(15));
    }
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-') {
        errs.push("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)".into());
    }
    if !s.bytes().any(|b| b.is_ascii_lowercase()) {
        errs.push("must contain at least one letter (a-z)".into());
    }
    if s.contains("--") {
        errs.push("must not contain consecutive hyphens".into());
    }
    if s.starts_with('-') || s.ends_with('-') {
        errs.push("must not begin or end with a hyphen".into());
    }
    errs
}

pub const PORT_RANGE: &str = "must be between 1 and 65535, inclusive";

/// An int-or-string port (`targetPort`, a NetworkPolicy `port`): a number in range
/// or a port name.
pub fn port_num_or_name(v: &Value, path: &str, causes: &mut Vec<Cause>) {
    match v {
        Value::String(name) => causes.extend(port_name(name).into_iter().map(|m| Cause::invalid(path, v, m))),
        _ if !super::int_in(v, 1, 65535) => causes.push(Cause::invalid(path, v, PORT_RANGE)),
        _ => {}
    }
}

/// Upstream's `IsValidPathSegmentName` (RBAC names, references by name).
pub fn path_segment_name(s: &str) -> Vec<String> {
    if s == "." || s == ".." {
        return vec![format!("may not be '{s}'")];
    }
    ["/", "%"].iter().filter(|c| s.contains(*c)).map(|c| format!("may not contain '{c}'")).collect()
}

/// Each message as an Invalid cause on `path` for the string `s`.
pub fn invalid_each(path: &str, s: &str, messages: Vec<String>, causes: &mut Vec<Cause>) {
    let value = json!(s);
    causes.extend(messages.into_iter().map(|m| Cause::invalid(path, &value, m)));
}

/// A `map[string]string` of labels (selector `matchLabels`, a Service's selector):
/// each key and value checked, every cause on `path` itself, as upstream does.
pub fn labels(map: &Value, path: &str, causes: &mut Vec<Cause>) {
    for (k, v) in map.as_object().into_iter().flatten() {
        invalid_each(path, k, qualified_name(k), causes);
        if let Some(v) = v.as_str() {
            invalid_each(path, v, label_value(v), causes);
        }
    }
}

/// A structured `metav1.LabelSelector` at `path`.
pub fn label_selector(sel: &Value, path: &str, causes: &mut Vec<Cause>) {
    if let Some(m) = sel.get("matchLabels") {
        labels(m, &format!("{path}.matchLabels"), causes);
    }
    for (i, expr) in sel.get("matchExpressions").and_then(Value::as_array).into_iter().flatten().enumerate() {
        let at = format!("{path}.matchExpressions[{i}]");
        let values = expr.get("values").and_then(Value::as_array).map_or(&[][..], Vec::as_slice);
        let operator = expr.get("operator").unwrap_or(&Value::Null);
        match operator.as_str() {
            Some("In" | "NotIn") if values.is_empty() => causes.push(Cause::required_because(
                format!("{at}.values"),
                "must be specified when `operator` is 'In' or 'NotIn'",
            )),
            Some("Exists" | "DoesNotExist") if !values.is_empty() => causes.push(Cause::forbidden(
                format!("{at}.values"),
                "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
            )),
            Some("In" | "NotIn" | "Exists" | "DoesNotExist") => {}
            _ => causes.push(Cause::invalid(
                format!("{at}.operator"),
                &json!(operator.as_str().unwrap_or("")),
                "not a valid selector operator",
            )),
        }
        let key = expr.get("key").and_then(Value::as_str).unwrap_or("");
        invalid_each(&format!("{at}.key"), key, qualified_name(key), causes);
        for (j, v) in values.iter().enumerate() {
            if let Some(v) = v.as_str() {
                invalid_each(&format!("{at}.values[{j}]"), v, label_value(v), causes);
            }
        }
    }
}

/// Go's (pre-1.17, "sloppy") `ParseIP`: IPv4 octets may have leading zeros.
pub fn parse_ip(s: &str) -> Option<IpAddr> {
    if s.contains(':') {
        return s.parse::<Ipv6Addr>().ok().map(IpAddr::V6);
    }
    let mut octets = [0u8; 4];
    let mut parts = s.split('.');
    for o in &mut octets {
        let part = parts.next()?;
        *o = u8::try_from(decimal(part)?).ok()?;
    }
    parts.next().is_none().then(|| IpAddr::V4(Ipv4Addr::from(octets)))
}

/// Go's `dtoi`: decimal digits only (leading zeros allowed), not too large.
fn decimal(s: &str) -> Option<u32> {
    if s.is_empty() {
        return None;
    }
    s.bytes().try_fold(0u32, |n, b| {
        let n = n.checked_mul(10)?.checked_add(u32::from(b.checked_sub(b'0').filter(|d| *d <= 9)?))?;
        (n < 0xFF_FFFF).then_some(n)
    })
}

/// A parsed CIDR: its network address (host bits cleared, as Go's `ParseCIDR`
/// returns) and prefix length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    pub network: IpAddr,
    pub prefix: u8,
}

impl Cidr {
    /// Go's (sloppy) `ParseCIDR`: host bits may be set (`10.0.0.1/24` is accepted).
    pub fn parse(s: &str) -> Option<Cidr> {
        let (addr, prefix) = s.split_once('/')?;
        let ip = parse_ip(addr)?;
        let bits = if ip.is_ipv4() { 32 } else { 128 };
        let prefix = u8::try_from(decimal(prefix)?).ok().filter(|p| u32::from(*p) <= bits)?;
        Some(Cidr { network: mask(ip, prefix), prefix })
    }

    /// Whether `other` is a strictly smaller range inside this one.
    pub fn strictly_contains(&self, other: &Cidr) -> bool {
        self.network.is_ipv4() == other.network.is_ipv4()
            && self.prefix < other.prefix
            && mask(other.network, self.prefix) == self.network
    }
}

fn mask(ip: IpAddr, prefix: u8) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => {
            let m = if prefix == 0 { 0 } else { u32::MAX << (32 - u32::from(prefix)) };
            IpAddr::V4(Ipv4Addr::from(u32::from(v4) & m))
        }
        IpAddr::V6(v6) => {
            let m = if prefix == 0 { 0 } else { u128::MAX << (128 - u32::from(prefix)) };
            IpAddr::V6(Ipv6Addr::from(u128::from(v6) & m))
        }
    }
}

pub const LOOPBACK: &str = "may not be in the loopback range (127.0.0.0/8, ::1/128)";

/// Upstream's `ValidateNonSpecialIP` (Endpoints, EndpointSlices, external IPs):
/// addresses that make no sense as a destination (unspecified, loopback) or
/// serve node-local purposes (link-local, e.g. a metadata service). IPv4-mapped
/// IPv6 addresses count as the IPv4 address, as Go's `net.IP` methods see them.
pub fn non_special_ip(ip: &str, path: &str, causes: &mut Vec<Cause>) {
    let value = json!(ip);
    let Some(addr) = parse_ip(ip) else {
        causes.push(Cause::invalid(path, &value, "must be a valid IP address"));
        return;
    };
    let addr = match addr {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(addr, IpAddr::V4),
        v4 => v4,
    };
    let (unspecified, loopback, link_local, link_local_multicast) = match addr {
        IpAddr::V4(v4) => (v4.is_unspecified(), v4.is_loopback(), v4.is_link_local(), v4.octets()[..3] == [224, 0, 0]),
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            (v6.is_unspecified(), v6.is_loopback(), first & 0xffc0 == 0xfe80, first & 0xff0f == 0xff02)
        }
    };
    if unspecified {
        causes.push(Cause::invalid(path, &value, format!("may not be unspecified ({ip})")));
    }
    if loopback {
        causes.push(Cause::invalid(path, &value, LOOPBACK));
    }
    if link_local {
        causes.push(Cause::invalid(path, &value, "may not be in the link-local range (169.254.0.0/16, fe80::/10)"));
    }
    if link_local_multicast {
        causes.push(Cause::invalid(
            path,
            &value,
            "may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)",
        ));
    }
}

/// Whether `s` is an IPv4 address as Go's `To4` sees one (IPv4-mapped IPv6 too).
pub fn is_ipv4(s: &str) -> bool {
    match parse_ip(s) {
        Some(IpAddr::V4(_)) => true,
        Some(IpAddr::V6(v6)) => v6.to_ipv4_mapped().is_some(),
        None => false,
    }
}

/// Upstream's `IsFullyQualifiedDomainName`: one trailing dot allowed, at least two
/// labels; only the first problem is reported, and a bad label shows that label.
pub fn fully_qualified_domain_name(name: &str, path: &str, causes: &mut Vec<Cause>) {
    if name.is_empty() {
        causes.push(Cause::required(path));
        return;
    }
    let name = name.strip_suffix('.').unwrap_or(name);
    let errs = dns1123_subdomain(name);
    if !errs.is_empty() {
        causes.push(Cause::invalid(path, &json!(name), errs.join(",")));
        return;
    }
    if !name.contains('.') {
        causes.push(Cause::invalid(
            path,
            &json!(name),
            "should be a domain with at least two segments separated by dots",
        ));
        return;
    }
    for label in name.split('.') {
        let errs = dns1123_label(label);
        if !errs.is_empty() {
            causes.push(Cause::invalid(path, &json!(label), errs.join(",")));
            return;
        }
    }
}

pub const CIDR_INVALID: &str = "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)";
pub const IP_INVALID: &str = "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_match_upstream() {
        assert_eq!(port_name("80"), ["must contain at least one letter (a-z)"]);
        assert_eq!(
            port_name("-Http--"),
            [
                "must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)",
                "must not contain consecutive hyphens",
                "must not begin or end with a hyphen"
            ]
        );
        assert!(port_name("http-alt").is_empty());
        assert_eq!(dns1123_label("a.b"), ["must not contain dots"]);
        assert_eq!(
            dns1035_label("1a"),
            ["a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"]
        );
        assert_eq!(
            qualified_name("a/b/c"),
            ["a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"]
        );
        assert_eq!(qualified_name("/a"), ["prefix part must be non-empty"]);
        assert!(qualified_name("example.com/My_Name").is_empty());
        assert!(wildcard_dns1123_subdomain("*.foo.com").is_empty());
        assert_eq!(wildcard_dns1123_subdomain("*.*.foo.com").len(), 1);
        assert_eq!(path_segment_name("a/b%"), ["may not contain '/'", "may not contain '%'"]);
        assert_eq!(path_segment_name(".."), ["may not be '..'"]);
    }

    #[test]
    fn cidrs_parse_as_go_does() {
        let c = Cidr::parse("10.0.0.1/24").unwrap();
        assert_eq!((c.network.to_string(), c.prefix), ("10.0.0.0".into(), 24));
        assert!(Cidr::parse("010.0.0.0/8").is_some(), "leading zeros are sloppy-valid");
        for bad in ["10.0.0.0", "10.0.0.0/33", "10.0.0/8", "::/129", "10.0.0.0/-1", "x/8", "256.0.0.0/8"] {
            assert!(Cidr::parse(bad).is_none(), "{bad}");
        }
        let outer = Cidr::parse("192.168.0.0/16").unwrap();
        assert!(outer.strictly_contains(&Cidr::parse("192.168.1.0/24").unwrap()));
        assert!(!outer.strictly_contains(&Cidr::parse("192.168.0.0/16").unwrap()));
        assert!(!outer.strictly_contains(&Cidr::parse("10.0.0.0/24").unwrap()));
        assert!(!outer.strictly_contains(&Cidr::parse("fd00::/64").unwrap()));
    }
}

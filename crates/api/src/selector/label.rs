//! Label selectors: upstream's string syntax (`app=web,tier in (a,b),!legacy`) and
//! the structured `LabelSelector` (`matchLabels` / `matchExpressions`).

use serde_json::Value;

/// One requirement of a selector.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Requirement {
    Equals(String, String),
    NotEquals(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    DoesNotExist(String),
    GreaterThan(String, i64),
    LessThan(String, i64),
}

/// A parsed label selector: every requirement must hold. Empty matches everything.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LabelSelector {
    pub requirements: Vec<Requirement>,
}

/// Why a selector string or structure was rejected (becomes a 400).
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("unable to parse requirement: {0}")]
pub struct SelectorError(pub String);

impl LabelSelector {
    pub fn everything() -> Self {
        LabelSelector::default()
    }

    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    /// Parses upstream's selector syntax.
    pub fn parse(input: &str) -> Result<Self, SelectorError> {
        let mut requirements = Vec::new();
        let mut lexer = Lexer { chars: input.chars().collect(), pos: 0 };
        lexer.skip_ws();
        if lexer.at_end() {
            return Ok(LabelSelector { requirements });
        }
        loop {
            requirements.push(lexer.requirement()?);
            lexer.skip_ws();
            if lexer.at_end() {
                break;
            }
            if !lexer.eat(',') {
                return Err(SelectorError(format!("found '{}', expected: ','", lexer.rest())));
            }
        }
        Ok(LabelSelector { requirements })
    }

    /// Builds a selector from a `metav1.LabelSelector` JSON value. `None` (absent) is
    /// not the same as empty: callers decide what an absent selector means.
    pub fn from_structured(selector: &Value) -> Result<Self, SelectorError> {
        let mut requirements = Vec::new();
        if let Some(labels) = selector.get("matchLabels").and_then(Value::as_object) {
            for (k, v) in labels {
                let v = v.as_str().ok_or_else(|| SelectorError(format!("matchLabels[{k}] must be a string")))?;
                validate_key(k)?;
                validate_value(v)?;
                requirements.push(Requirement::Equals(k.clone(), v.to_string()));
            }
        }
        for expr in selector.get("matchExpressions").and_then(Value::as_array).into_iter().flatten() {
            let key = expr.get("key").and_then(Value::as_str).unwrap_or("").to_string();
            validate_key(&key)?;
            let values: Vec<String> = expr
                .get("values")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(|v| v.as_str().map(String::from)).collect())
                .unwrap_or_default();
            let op = expr.get("operator").and_then(Value::as_str).unwrap_or("");
            let req = match op {
                "In" | "NotIn" if values.is_empty() => {
                    return Err(SelectorError(format!("for '{op}' operator, values set can't be empty")))
                }
                "In" => Requirement::In(key, values),
                "NotIn" => Requirement::NotIn(key, values),
                "Exists" | "DoesNotExist" if !values.is_empty() => {
                    return Err(SelectorError(format!("values set must be empty for {op}")))
                }
                "Exists" => Requirement::Exists(key),
                "DoesNotExist" => Requirement::DoesNotExist(key),
                other => return Err(SelectorError(format!("{other:?} is not a valid label selector operator"))),
            };
            requirements.push(req);
        }
        Ok(LabelSelector { requirements })
    }

    /// Whether labels given as key/value pairs satisfy every requirement.
    pub fn matches<'a>(&self, labels: impl Fn(&str) -> Option<&'a str>) -> bool {
        self.requirements.iter().all(|r| match r {
            Requirement::Equals(k, v) => labels(k) == Some(v.as_str()),
            Requirement::NotEquals(k, v) => labels(k) != Some(v.as_str()),
            Requirement::In(k, vs) => labels(k).is_some_and(|l| vs.iter().any(|v| v == l)),
            Requirement::NotIn(k, vs) => labels(k).is_none_or(|l| vs.iter().all(|v| v != l)),
            Requirement::Exists(k) => labels(k).is_some(),
            Requirement::DoesNotExist(k) => labels(k).is_none(),
            Requirement::GreaterThan(k, n) => labels(k).and_then(|l| l.parse::<i64>().ok()).is_some_and(|l| l > *n),
            Requirement::LessThan(k, n) => labels(k).and_then(|l| l.parse::<i64>().ok()).is_some_and(|l| l < *n),
        })
    }

    /// Whether an object's `metadata.labels` satisfy the selector.
    pub fn matches_object(&self, obj: &Value) -> bool {
        let labels = obj.get("metadata").and_then(|m| m.get("labels"));
        self.matches(|k| labels.and_then(|l| l.get(k)).and_then(Value::as_str))
    }
}

struct Lexer {
    chars: Vec<char>,
    pos: usize,
}

impl Lexer {
    fn at_end(&self) -> bool {
        self.pos >= self.chars.len()
    }
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }
    fn rest(&self) -> String {
        self.chars[self.pos.min(self.chars.len())..].iter().collect()
    }
    fn skip_ws(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.pos += 1;
        }
    }
    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }
    fn eat_str(&mut self, s: &str) -> bool {
        let n = s.chars().count();
        if self.chars.get(self.pos..self.pos + n).is_some_and(|w| w.iter().copied().eq(s.chars())) {
            self.pos += n;
            true
        } else {
            false
        }
    }
    /// A run of characters that can be part of a key or value.
    fn word(&mut self) -> String {
        let start = self.pos;
        while self.peek().is_some_and(|c| !c.is_whitespace() && !"=!,()<>".contains(c)) {
            self.pos += 1;
        }
        self.chars[start..self.pos].iter().collect()
    }

    fn requirement(&mut self) -> Result<Requirement, SelectorError> {
        self.skip_ws();
        if self.eat('!') {
            self.skip_ws();
            let key = self.word();
            validate_key(&key)?;
            return Ok(Requirement::DoesNotExist(key));
        }
        let key = self.word();
        validate_key(&key)?;
        self.skip_ws();
        if self.at_end() || self.peek() == Some(',') {
            return Ok(Requirement::Exists(key));
        }
        if self.eat_str("==") || self.eat('=') {
            let value = self.value()?;
            return Ok(Requirement::Equals(key, value));
        }
        if self.eat_str("!=") {
            let value = self.value()?;
            return Ok(Requirement::NotEquals(key, value));
        }
        if self.eat('>') || self.eat('<') {
            let greater = self.chars[self.pos - 1] == '>';
            self.skip_ws();
            let word = self.word();
            let n = word.parse::<i64>().map_err(|_| {
                SelectorError(format!("for 'Gt', 'Lt' operators, the value must be an integer: {word:?}"))
            })?;
            return Ok(if greater { Requirement::GreaterThan(key, n) } else { Requirement::LessThan(key, n) });
        }
        let op = self.word();
        let values = match op.as_str() {
            "in" | "notin" => self.value_set()?,
            _ => return Err(SelectorError(format!("found '{op}', expected: in, notin, =, ==, !=, gt, lt"))),
        };
        if values.is_empty() {
            return Err(SelectorError(format!("for '{op}' operator, values set can't be empty")));
        }
        Ok(if op == "in" { Requirement::In(key, values) } else { Requirement::NotIn(key, values) })
    }

    fn value(&mut self) -> Result<String, SelectorError> {
        self.skip_ws();
        let v = self.word();
        validate_value(&v)?;
        Ok(v)
    }

    fn value_set(&mut self) -> Result<Vec<String>, SelectorError> {
        self.skip_ws();
        if !self.eat('(') {
            return Err(SelectorError(format!("found '{}', expected: '('", self.rest())));
        }
        let mut values = Vec::new();
        loop {
            self.skip_ws();
            if self.eat(')') {
                return Ok(values);
            }
            let v = self.value()?;
            values.push(v);
            self.skip_ws();
            if self.eat(',') {
                continue;
            }
            if self.eat(')') {
                return Ok(values);
            }
            return Err(SelectorError(format!("found '{}', expected: ',' or ')'", self.rest())));
        }
    }
}

/// A label key: an optional DNS subdomain prefix and `/`, then a name of at most 63
/// characters of `[A-Za-z0-9_.-]`, starting and ending alphanumeric.
pub fn validate_key(key: &str) -> Result<(), SelectorError> {
    let (prefix, name) = match key.rsplit_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, key),
    };
    if let Some(p) = prefix {
        if p.is_empty() || p.len() > 253 || !crate::names::is_dns1123_subdomain(p) {
            return Err(SelectorError(format!("invalid label key {key:?}: prefix part must be a DNS subdomain")));
        }
    }
    if name.is_empty() || name.len() > 63 || !is_label_name(name) {
        return Err(SelectorError(format!(
            "invalid label key {key:?}: name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character"
        )));
    }
    Ok(())
}

pub fn validate_value(value: &str) -> Result<(), SelectorError> {
    if value.len() > 63 || (!value.is_empty() && !is_label_name(value)) {
        return Err(SelectorError(format!(
            "invalid label value: {value:?}: a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character"
        )));
    }
    Ok(())
}

fn is_label_name(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn m(sel: &str, labels: &[(&str, &str)]) -> bool {
        let s = LabelSelector::parse(sel).unwrap();
        s.matches(|k| labels.iter().find(|(lk, _)| *lk == k).map(|(_, v)| *v))
    }

    #[test]
    fn equality_and_sets() {
        assert!(m("", &[]));
        assert!(m("app=web", &[("app", "web")]));
        assert!(m("app==web", &[("app", "web")]));
        assert!(!m("app=web", &[("app", "db")]));
        assert!(m("app!=web", &[]));
        assert!(m("tier in (a, b)", &[("tier", "b")]));
        assert!(!m("tier in (a,b)", &[]));
        assert!(m("tier notin (a,b)", &[]));
        assert!(!m("tier notin (a,b)", &[("tier", "a")]));
        assert!(m("legacy", &[("legacy", "")]));
        assert!(m("!legacy", &[]));
        assert!(m("app=web, !legacy ,tier in (x)", &[("app", "web"), ("tier", "x")]));
        assert!(m("n>3", &[("n", "4")]));
        assert!(!m("n<3", &[("n", "x")]));
        assert!(m("example.com/role=db", &[("example.com/role", "db")]));
    }

    #[test]
    fn rejects_bad_selectors() {
        for bad in
            ["app=", "=x", "app in ()", "app in (a", "app foo b", "a==b=c", "-a=b", "app=web,", "app in a", "k=v v"]
        {
            let r = LabelSelector::parse(bad);
            if bad == "app=" {
                // An empty value is valid: `app=` selects app with an empty value.
                assert!(r.is_ok(), "{bad}");
            } else {
                assert!(r.is_err(), "{bad} should be rejected, got {r:?}");
            }
        }
    }

    #[test]
    fn structured_selector() {
        let s = LabelSelector::from_structured(&json!({
            "matchLabels": {"app": "web"},
            "matchExpressions": [{"key": "tier", "operator": "In", "values": ["a"]}, {"key": "x", "operator": "DoesNotExist"}]
        }))
        .unwrap();
        assert!(s.matches_object(&json!({"metadata": {"labels": {"app": "web", "tier": "a"}}})));
        assert!(!s.matches_object(&json!({"metadata": {"labels": {"app": "web", "tier": "a", "x": "1"}}})));
        assert!(
            LabelSelector::from_structured(&json!({"matchExpressions": [{"key": "a", "operator": "Bogus"}]})).is_err()
        );
        assert!(LabelSelector::from_structured(&json!({})).unwrap().is_empty());
    }
}

//! Methods on values that take no block: the String, Array and Hash methods
//! Berksfiles and metadata.rb files use, computed as Ruby computes them,
//! plus Ruby's `File.join`, `File.dirname` and `File.basename`. Pure
//! functions: nothing here touches the evaluator or the file system.

use super::Value;

/// Longest string or array a method may build.
pub(super) const MAX_STRING: usize = 16 << 20;

/// Why a method on a value gave no result.
#[derive(Debug)]
pub(super) enum MethodError {
    /// The method exists in Ruby for this type, but not with these
    /// arguments (Ruby's NoMethodError/ArgumentError/TypeError).
    Raise(String),
    /// The method is not part of what larder evaluates.
    Unsupported,
    /// The result would be too large.
    TooLong,
}

/// The methods [`call`] knows, whatever the receiver.
const KNOWN: &[&str] = &[
    "nil?",
    "==",
    "!=",
    "!",
    "empty?",
    "chomp",
    "strip",
    "to_s",
    "to_sym",
    "to_str",
    "to_i",
    "freeze",
    "dup",
    "clone",
    "downcase",
    "upcase",
    "start_with?",
    "end_with?",
    "include?",
    "key?",
    "has_key?",
    "member?",
    "split",
    "length",
    "size",
    "count",
    "first",
    "last",
    "[]",
    "+",
    "-",
    "merge",
    "fetch",
    "keys",
    "values",
    "compact",
    "flatten",
    "uniq",
    "sort",
    "reverse",
    "join",
    "to_a",
    "to_h",
    "any?",
    "none?",
    "all?",
    "dig",
    "values_at",
    "sub",
    "gsub",
    "frozen?",
    "is_a?",
    "kind_of?",
    "instance_of?",
    "respond_to?",
    "eql?",
    "equal?",
    "lines",
    "chars",
    "lstrip",
    "rstrip",
    "capitalize",
    "inspect",
    "has_value?",
    "value?",
    "min",
    "max",
    "sum",
    "delete_prefix",
    "delete_suffix",
];

/// Calls the method `name` on `value` with `args`.
pub(super) fn call(value: &Value, name: &str, args: &[Value]) -> Result<Value, MethodError> {
    use Value::{Array, Bool, Hash, Integer, Nil, String as Str, Symbol};
    let result = match (name, value, args) {
        ("nil?", v, []) => Bool(*v == Nil),
        ("==" | "eql?" | "equal?", v, [other]) => Bool(v == other),
        ("!=", v, [other]) => Bool(v != other),
        ("!", v, []) => Bool(!v.is_truthy()),
        ("frozen?", _, []) => Bool(true),
        ("empty?", Str(s), []) => Bool(s.is_empty()),
        ("empty?", Array(a), []) => Bool(a.is_empty()),
        ("empty?", Hash(h), []) => Bool(h.is_empty()),
        ("chomp", Str(s), []) => Str(chomp(s).to_string()),
        ("strip", Str(s), []) => Str(s
            .trim_matches(|c: char| c.is_ascii_whitespace() || c == '\0')
            .to_string()),
        ("lstrip", Str(s), []) => Str(s
            .trim_start_matches(|c: char| c.is_ascii_whitespace())
            .to_string()),
        ("rstrip", Str(s), []) => Str(s
            .trim_end_matches(|c: char| c.is_ascii_whitespace() || c == '\0')
            .to_string()),
        ("to_s" | "to_str", v, []) => Str(v.to_ruby_s()),
        ("inspect", v, []) => Str(v.to_string()),
        ("to_sym", Str(s) | Symbol(s), []) => Symbol(s.clone()),
        ("to_i", Str(s), []) => Integer(leading_integer(s)),
        ("to_i", Integer(i), []) => Integer(*i),
        ("freeze" | "dup" | "clone", v, []) => v.clone(),
        ("downcase", Str(s), []) => Str(s.to_lowercase()),
        ("upcase", Str(s), []) => Str(s.to_uppercase()),
        ("capitalize", Str(s), []) => {
            let mut chars = s.chars();
            Str(match chars.next() {
                Some(c) => c
                    .to_uppercase()
                    .chain(chars.as_str().to_lowercase().chars())
                    .collect(),
                None => String::new(),
            })
        }
        ("start_with?", Str(s), prefixes) if !prefixes.is_empty() => Bool(
            prefixes
                .iter()
                .any(|p| p.as_str().is_some_and(|p| s.starts_with(p))),
        ),
        ("end_with?", Str(s), suffixes) if !suffixes.is_empty() => Bool(
            suffixes
                .iter()
                .any(|p| p.as_str().is_some_and(|p| s.ends_with(p))),
        ),
        ("delete_prefix", Str(s), [Str(p)]) => {
            Str(s.strip_prefix(p.as_str()).unwrap_or(s).to_string())
        }
        ("delete_suffix", Str(s), [Str(p)]) => {
            Str(s.strip_suffix(p.as_str()).unwrap_or(s).to_string())
        }
        ("include?", Str(s), [Str(p)]) => Bool(s.contains(p.as_str())),
        ("include?" | "member?", Array(a), [item]) => Bool(a.contains(item)),
        ("include?" | "key?" | "has_key?" | "member?", Hash(_), [key]) => {
            Bool(value.hash_get(key).is_some())
        }
        ("has_value?" | "value?", Hash(h), [item]) => Bool(h.iter().any(|(_, v)| v == item)),
        ("split", Str(s), []) => Array(s.split_whitespace().map(|p| Str(p.to_string())).collect()),
        ("split", Str(s), [Str(sep)]) if sep == " " => {
            Array(s.split_whitespace().map(|p| Str(p.to_string())).collect())
        }
        ("split", Str(s), [Str(sep)]) if !sep.is_empty() => {
            let mut parts: Vec<Value> = s.split(sep.as_str()).map(|p| Str(p.to_string())).collect();
            // Ruby drops trailing empty fields.
            while parts.last() == Some(&Str(String::new())) {
                parts.pop();
            }
            Array(parts)
        }
        ("lines", Str(s), []) => Array(
            s.split_inclusive('\n')
                .map(|l| Str(l.to_string()))
                .collect(),
        ),
        ("chars", Str(s), []) => Array(s.chars().map(|c| Str(c.to_string())).collect()),
        ("sub", Str(s), [Str(from), Str(to)]) => Str(s.replacen(from.as_str(), to, 1)),
        ("gsub", Str(s), [Str(from), Str(to)]) if !from.is_empty() => {
            if s.len().saturating_mul(to.len().max(1)) > MAX_STRING {
                return Err(MethodError::TooLong);
            }
            Str(s.replace(from.as_str(), to))
        }
        ("length" | "size", Str(s), []) => int(s.chars().count()),
        ("length" | "size" | "count", Array(a), []) => int(a.len()),
        ("length" | "size" | "count", Hash(h), []) => int(h.len()),
        ("count", Array(a), [item]) => int(a.iter().filter(|v| *v == item).count()),
        ("first", Array(a), []) => a.first().cloned().unwrap_or(Nil),
        ("first", Hash(h), []) => h
            .first()
            .map_or(Nil, |(k, v)| Array(vec![k.clone(), v.clone()])),
        ("first", Array(a), [Integer(n)]) if *n >= 0 => Array(
            a.iter()
                .take(usize::try_from(*n).unwrap_or(usize::MAX))
                .cloned()
                .collect(),
        ),
        ("last", Array(a), []) => a.last().cloned().unwrap_or(Nil),
        ("last", Array(a), [Integer(n)]) if *n >= 0 => {
            let n = usize::try_from(*n).unwrap_or(usize::MAX).min(a.len());
            Array(a[a.len() - n..].to_vec())
        }
        ("min", Array(a), []) => sorted(a)?.first().cloned().unwrap_or(Nil),
        ("max", Array(a), []) => sorted(a)?.last().cloned().unwrap_or(Nil),
        ("sum", Array(a), []) => {
            let mut total: i64 = 0;
            for item in a {
                let Integer(i) = item else {
                    return Err(MethodError::Raise(format!(
                        "{} can't be coerced into Integer",
                        item.type_name()
                    )));
                };
                total = total.checked_add(*i).ok_or(MethodError::TooLong)?;
            }
            Integer(total)
        }
        ("[]", Array(a), [Integer(i)]) => index(a, *i).cloned().unwrap_or(Nil),
        ("[]", Hash(_), [key]) => value.hash_get(key).cloned().unwrap_or(Nil),
        ("[]", Str(s), [Integer(i)]) => {
            let chars: Vec<Value> = s.chars().map(|c| Str(c.to_string())).collect();
            index(&chars, *i).cloned().unwrap_or(Nil)
        }
        ("dig", v, keys) if !keys.is_empty() => {
            let mut current = v.clone();
            for key in keys {
                current = match (&current, key) {
                    (Nil, _) => Nil,
                    (Hash(_), key) => current.hash_get(key).cloned().unwrap_or(Nil),
                    (Array(a), Integer(i)) => index(a, *i).cloned().unwrap_or(Nil),
                    (other, _) => {
                        return Err(MethodError::Raise(format!(
                            "{} does not have #dig method",
                            other.type_name()
                        )));
                    }
                };
            }
            current
        }
        ("values_at", Hash(_), keys) => Array(
            keys.iter()
                .map(|k| value.hash_get(k).cloned().unwrap_or(Nil))
                .collect(),
        ),
        ("fetch", Hash(_), [key]) => match value.hash_get(key) {
            Some(v) => v.clone(),
            None => return Err(MethodError::Raise(format!("key not found: {key}"))),
        },
        ("fetch", Hash(_), [key, default]) => value
            .hash_get(key)
            .cloned()
            .unwrap_or_else(|| default.clone()),
        ("fetch", Array(a), [Integer(i)]) => match index(a, *i) {
            Some(v) => v.clone(),
            None => {
                return Err(MethodError::Raise(format!(
                    "index {i} outside of array bounds: {}...{}",
                    -(a.len() as i128),
                    a.len()
                )));
            }
        },
        ("fetch", Array(a), [Integer(i), default]) => {
            index(a, *i).cloned().unwrap_or_else(|| default.clone())
        }
        ("keys", Hash(h), []) => Array(h.iter().map(|(k, _)| k.clone()).collect()),
        ("values", Hash(h), []) => Array(h.iter().map(|(_, v)| v.clone()).collect()),
        ("merge", Hash(h), others) if others.iter().all(|o| matches!(o, Hash(_))) => {
            let mut merged = h.clone();
            for other in others {
                if let Hash(entries) = other {
                    for (k, v) in entries {
                        hash_set(&mut merged, k.clone(), v.clone());
                    }
                }
            }
            Hash(merged)
        }
        ("to_a", Array(a), []) => Array(a.clone()),
        ("to_a", Hash(h), []) => Array(
            h.iter()
                .map(|(k, v)| Array(vec![k.clone(), v.clone()]))
                .collect(),
        ),
        ("to_a", Nil, []) => Array(Vec::new()),
        ("to_h", Hash(h), []) => Hash(h.clone()),
        ("to_h", Array(a), []) => {
            let mut entries = Vec::new();
            for pair in a {
                match pair {
                    Array(kv) if kv.len() == 2 => {
                        hash_set(&mut entries, kv[0].clone(), kv[1].clone())
                    }
                    other => {
                        return Err(MethodError::Raise(format!(
                            "wrong element type {} (expected array of two)",
                            other.type_name()
                        )));
                    }
                }
            }
            Hash(entries)
        }
        ("compact", Array(a), []) => Array(a.iter().filter(|v| **v != Nil).cloned().collect()),
        ("compact", Hash(h), []) => Hash(h.iter().filter(|(_, v)| *v != Nil).cloned().collect()),
        ("flatten", Array(a), []) => {
            let mut flat = Vec::new();
            flatten(a, &mut flat);
            Array(flat)
        }
        ("uniq", Array(a), []) => {
            let mut seen: Vec<Value> = Vec::new();
            for item in a {
                if !seen.contains(item) {
                    seen.push(item.clone());
                }
            }
            Array(seen)
        }
        ("sort", Array(a), []) => Array(sorted(a)?),
        ("reverse", Array(a), []) => Array(a.iter().rev().cloned().collect()),
        ("reverse", Str(s), []) => Str(s.chars().rev().collect()),
        ("join", Array(a), []) => Str(join(a, "")?),
        ("join", Array(a), [Str(sep)]) => Str(join(a, sep)?),
        ("any?", Array(a), []) => Bool(a.iter().any(Value::is_truthy)),
        ("any?", Hash(h), []) => Bool(!h.is_empty()),
        ("all?", Array(a), []) => Bool(a.iter().all(Value::is_truthy)),
        ("none?", Array(a), []) => Bool(!a.iter().any(Value::is_truthy)),
        ("+", Str(a), [Str(b)]) => {
            if a.len() + b.len() > MAX_STRING {
                return Err(MethodError::TooLong);
            }
            Str(format!("{a}{b}"))
        }
        ("+", Array(a), [Array(b)]) => {
            if a.len() + b.len() > MAX_STRING {
                return Err(MethodError::TooLong);
            }
            Array(a.iter().chain(b).cloned().collect())
        }
        ("-", Array(a), [Array(b)]) => {
            Array(a.iter().filter(|v| !b.contains(v)).cloned().collect())
        }
        ("+", Integer(a), [Integer(b)]) => Integer(a.checked_add(*b).ok_or(MethodError::TooLong)?),
        ("-", Integer(a), [Integer(b)]) => Integer(a.checked_sub(*b).ok_or(MethodError::TooLong)?),
        _ if KNOWN.contains(&name) => {
            return Err(MethodError::Raise(format!(
                "undefined method `{name}` for {} with these arguments",
                value.type_name()
            )));
        }
        _ => return Err(MethodError::Unsupported),
    };
    Ok(result)
}

/// Whether `name` is a method [`call`] knows (for `respond_to?` and
/// `defined?` on values).
pub(super) fn knows(name: &str) -> bool {
    KNOWN.contains(&name)
}

/// Sets `key` in hash entries: replaced in place, or appended.
pub(super) fn hash_set(entries: &mut Vec<(Value, Value)>, key: Value, value: Value) {
    match entries.iter_mut().find(|(k, _)| *k == key) {
        Some(entry) => entry.1 = value,
        None => entries.push((key, value)),
    }
}

fn int(n: usize) -> Value {
    Value::Integer(i64::try_from(n).unwrap_or(i64::MAX))
}

/// Ruby's `String#to_i`: the leading integer, 0 if none.
fn leading_integer(s: &str) -> i64 {
    let t = s.trim_start();
    let (sign, digits) = match t.strip_prefix('-') {
        Some(rest) => (-1, rest),
        None => (1, t.strip_prefix('+').unwrap_or(t)),
    };
    let end = digits
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(digits.len());
    digits[..end].parse::<i64>().map_or(0, |n| sign * n)
}

/// Ruby's `String#chomp` without arguments.
pub(super) fn chomp(s: &str) -> &str {
    s.strip_suffix("\r\n")
        .or_else(|| s.strip_suffix('\n'))
        .or_else(|| s.strip_suffix('\r'))
        .unwrap_or(s)
}

fn index(a: &[Value], i: i64) -> Option<&Value> {
    let i = if i < 0 {
        i64::try_from(a.len()).ok()?.checked_add(i)?
    } else {
        i
    };
    a.get(usize::try_from(i).ok()?)
}

fn sorted(a: &[Value]) -> Result<Vec<Value>, MethodError> {
    let mut items = a.to_vec();
    if items.iter().all(|v| matches!(v, Value::Integer(_))) {
        items.sort_by_key(|v| match v {
            Value::Integer(i) => *i,
            _ => 0,
        });
        return Ok(items);
    }
    if items.iter().all(|v| matches!(v, Value::String(_))) {
        items.sort_by_key(Value::to_ruby_s);
        return Ok(items);
    }
    Err(MethodError::Raise(
        "comparison of these elements failed".into(),
    ))
}

fn join(a: &[Value], sep: &str) -> Result<String, MethodError> {
    let mut flat = Vec::new();
    flatten(a, &mut flat);
    let mut out = String::new();
    for (i, item) in flat.iter().enumerate() {
        if i > 0 {
            out.push_str(sep);
        }
        out.push_str(&item.to_ruby_s());
        if out.len() > MAX_STRING {
            return Err(MethodError::TooLong);
        }
    }
    Ok(out)
}

pub(super) fn flatten(values: &[Value], out: &mut Vec<Value>) {
    for value in values {
        match value {
            Value::Array(items) => flatten(items, out),
            other => out.push(other.clone()),
        }
    }
}

/// Ruby's `File.join`: one `/` between parts.
pub(super) fn ruby_join(parts: &[&str]) -> String {
    let mut out = String::new();
    for (i, part) in parts.iter().enumerate() {
        if i == 0 {
            out.push_str(part);
            continue;
        }
        match (out.ends_with('/'), part.starts_with('/')) {
            (true, true) => out.push_str(&part[1..]),
            (true, false) | (false, true) => out.push_str(part),
            (false, false) => {
                out.push('/');
                out.push_str(part);
            }
        }
    }
    out
}

/// Ruby's `File.dirname`.
pub(super) fn ruby_dirname(path: &str) -> String {
    let trimmed = path.trim_end_matches('/');
    if trimmed.is_empty() {
        return if path.starts_with('/') {
            "/".into()
        } else {
            ".".into()
        };
    }
    match trimmed.rfind('/') {
        None => ".".into(),
        Some(i) => {
            let dir = trimmed[..i].trim_end_matches('/');
            if dir.is_empty() {
                "/".into()
            } else {
                dir.into()
            }
        }
    }
}

/// Ruby's `File.basename`, with the optional suffix to remove (`.*`
/// removes any extension).
pub(super) fn ruby_basename(path: &str, suffix: Option<&str>) -> String {
    let trimmed = path.trim_end_matches('/');
    if trimmed.is_empty() {
        return if path.is_empty() {
            String::new()
        } else {
            "/".into()
        };
    }
    let base = trimmed.rsplit('/').next().unwrap_or(trimmed);
    let stripped = match suffix {
        Some(".*") => match base.rfind('.') {
            Some(i) if i > 0 => &base[..i],
            _ => base,
        },
        Some(suffix) if !suffix.is_empty() && base != suffix => {
            base.strip_suffix(suffix).unwrap_or(base)
        }
        _ => base,
    };
    stripped.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(text: &str) -> Value {
        Value::String(text.into())
    }

    fn sym(text: &str) -> Value {
        Value::Symbol(text.into())
    }

    #[test]
    fn hashes_merge_fetch_and_list_keys() {
        let a = Value::Hash(vec![(sym("path"), s("x")), (sym("group"), sym("t"))]);
        let b = Value::Hash(vec![(sym("path"), s("y")), (sym("branch"), s("m"))]);
        let merged = call(&a, "merge", &[b]).unwrap();
        assert_eq!(
            merged.to_string(),
            r#"{:path=>"y", :group=>:t, :branch=>"m"}"#
        );
        assert_eq!(
            call(&merged, "keys", &[]).unwrap().to_string(),
            "[:path, :group, :branch]"
        );
        assert_eq!(call(&a, "fetch", &[sym("nope"), s("d")]).unwrap(), s("d"));
        assert!(
            matches!(call(&a, "fetch", &[sym("nope")]), Err(MethodError::Raise(m)) if m.contains("key not found"))
        );
        assert_eq!(call(&a, "dig", &[sym("path")]).unwrap(), s("x"));
    }

    #[test]
    fn arrays_and_strings() {
        let a = Value::Array(vec![s("b"), s("a"), s("b"), Value::Nil]);
        assert_eq!(
            call(&a, "compact", &[]).unwrap().to_string(),
            r#"["b", "a", "b"]"#
        );
        let c = call(&a, "compact", &[]).unwrap();
        assert_eq!(call(&c, "uniq", &[]).unwrap().to_string(), r#"["b", "a"]"#);
        assert_eq!(
            call(&c, "sort", &[]).unwrap().to_string(),
            r#"["a", "b", "b"]"#
        );
        assert_eq!(call(&c, "join", &[s("-")]).unwrap(), s("b-a-b"));
        assert_eq!(
            call(&c, "first", &[Value::Integer(2)]).unwrap().to_string(),
            r#"["b", "a"]"#
        );
        assert_eq!(
            call(&s("a,b,,"), "split", &[s(",")]).unwrap().to_string(),
            r#"["a", "b"]"#
        );
        assert_eq!(call(&s("12abc"), "to_i", &[]).unwrap(), Value::Integer(12));
        assert!(matches!(
            call(&s("x"), "reverse_each", &[]),
            Err(MethodError::Unsupported)
        ));
        assert!(matches!(
            call(&s("x"), "keys", &[]),
            Err(MethodError::Raise(_))
        ));
    }

    #[test]
    fn file_helpers_follow_ruby() {
        assert_eq!(ruby_dirname("/a/b/c.rb"), "/a/b");
        assert_eq!(ruby_dirname("c.rb"), ".");
        assert_eq!(ruby_dirname("/c"), "/");
        assert_eq!(ruby_basename("/a/b/", None), "b");
        assert_eq!(ruby_basename("/a/b.rb", Some(".rb")), "b");
        assert_eq!(ruby_basename("/a/b.tar.gz", Some(".*")), "b.tar");
        assert_eq!(ruby_join(&["a/", "/b", "c"]), "a/b/c");
    }
}

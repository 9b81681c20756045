//! The values a Berksfile or metadata.rb can compute: nil, booleans,
//! integers, strings, symbols, arrays and hashes. Nothing else exists in the
//! evaluator, so no value can refer to code or to the outside world.

use std::fmt;

#[derive(Debug, Clone, Eq)]
pub enum Value {
    Nil,
    Bool(bool),
    Integer(i64),
    String(String),
    Symbol(String),
    Array(Vec<Value>),
    /// Entries in the order written; a repeated key keeps its last value.
    Hash(Vec<(Value, Value)>),
}

impl Value {
    /// Ruby truthiness: everything except `nil` and `false`.
    pub fn is_truthy(&self) -> bool {
        !matches!(self, Value::Nil | Value::Bool(false))
    }

    /// The text of a string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// The text of a string or the name of a symbol (DSL methods usually take
    /// either).
    pub fn as_name(&self) -> Option<&str> {
        match self {
            Value::String(s) | Value::Symbol(s) => Some(s),
            _ => None,
        }
    }

    /// What Ruby's `to_s` gives (used by interpolation).
    pub fn to_ruby_s(&self) -> String {
        match self {
            Value::Nil => String::new(),
            Value::String(s) | Value::Symbol(s) => s.clone(),
            other => other.to_string(),
        }
    }

    /// The Ruby class name, for error messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Nil => "nil",
            Value::Bool(true) => "true",
            Value::Bool(false) => "false",
            Value::Integer(_) => "an Integer",
            Value::String(_) => "a String",
            Value::Symbol(_) => "a Symbol",
            Value::Array(_) => "an Array",
            Value::Hash(_) => "a Hash",
        }
    }

    /// About how many bytes the value holds in memory, counted up to a
    /// little past `limit` (so weighing a huge value stays cheap).
    pub fn weight(&self, limit: usize) -> usize {
        const NODE: usize = std::mem::size_of::<Value>();
        match self {
            Value::String(s) | Value::Symbol(s) => NODE + s.len(),
            Value::Array(items) => {
                let mut total = NODE;
                for item in items {
                    total += item.weight(limit.saturating_sub(total));
                    if total > limit {
                        break;
                    }
                }
                total
            }
            Value::Hash(entries) => {
                let mut total = NODE;
                for (k, v) in entries {
                    total += k.weight(limit.saturating_sub(total));
                    total += v.weight(limit.saturating_sub(total));
                    if total > limit {
                        break;
                    }
                }
                total
            }
            _ => NODE,
        }
    }

    /// The value for `key` in a hash.
    pub fn hash_get(&self, key: &Value) -> Option<&Value> {
        match self {
            Value::Hash(entries) => entries.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }
}

/// Ruby's `==`: hashes are equal when they map the same keys to equal
/// values, whatever the order they were written in.
impl PartialEq for Value {
    fn eq(&self, other: &Value) -> bool {
        match (self, other) {
            (Value::Nil, Value::Nil) => true,
            (Value::Bool(a), Value::Bool(b)) => a == b,
            (Value::Integer(a), Value::Integer(b)) => a == b,
            (Value::String(a), Value::String(b)) | (Value::Symbol(a), Value::Symbol(b)) => a == b,
            (Value::Array(a), Value::Array(b)) => a == b,
            (Value::Hash(a), Value::Hash(b)) => {
                let covers = |x: &[(Value, Value)], y: &Value| {
                    x.iter().all(|(k, v)| y.hash_get(k) == Some(v))
                };
                covers(a, other) && covers(b, self)
            }
            _ => false,
        }
    }
}

/// Ruby's `inspect` form: `"text"`, `:sym`, `[1, 2]`, `{:a=>1}`.
impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Nil => f.write_str("nil"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Integer(i) => write!(f, "{i}"),
            Value::String(s) => write!(f, "{s:?}"),
            Value::Symbol(s) => write!(f, ":{s}"),
            Value::Array(items) => {
                f.write_str("[")?;
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{item}")?;
                }
                f.write_str("]")
            }
            Value::Hash(entries) => {
                f.write_str("{")?;
                for (i, (k, v)) in entries.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{k}=>{v}")?;
                }
                f.write_str("}")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truthiness_and_to_s_follow_ruby() {
        assert!(!Value::Nil.is_truthy());
        assert!(!Value::Bool(false).is_truthy());
        assert!(Value::String(String::new()).is_truthy());
        assert_eq!(Value::Nil.to_ruby_s(), "");
        assert_eq!(Value::Symbol("a".into()).to_ruby_s(), "a");
        let array = Value::Array(vec![Value::Integer(1), Value::Symbol("b".into())]);
        assert_eq!(array.to_ruby_s(), "[1, :b]");
    }

    #[test]
    fn hashes_compare_as_ruby_compares_them() {
        let a = Value::Symbol("a".into());
        let b = Value::Symbol("b".into());
        let ab = Value::Hash(vec![
            (a.clone(), Value::Integer(1)),
            (b.clone(), Value::Nil),
        ]);
        let ba = Value::Hash(vec![
            (b.clone(), Value::Nil),
            (a.clone(), Value::Integer(1)),
        ]);
        assert_eq!(ab, ba);
        assert_ne!(ab, Value::Hash(vec![(a, Value::Integer(1))]));
        assert_ne!(Value::String("a".into()), Value::Symbol("a".into()));
    }

    #[test]
    fn hash_lookup_takes_the_last_entry() {
        let key = Value::Symbol("k".into());
        let hash = Value::Hash(vec![
            (key.clone(), Value::Integer(1)),
            (key.clone(), Value::Integer(2)),
        ]);
        assert_eq!(hash.hash_get(&key), Some(&Value::Integer(2)));
    }
}

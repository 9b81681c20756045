//! Fuzzes the Chef version and constraint parsers. Invariants: no panic,
//! no hang; a parsed version or constraint prints to text that parses back
//! equal; a constraint's range set agrees with `matches`.

#![no_main]

use larder::version::{Constraint, Version};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let version = text.parse::<Version>().ok();
    if let Some(version) = version {
        assert_eq!(version.to_string().parse::<Version>(), Ok(version));
    }
    if let Ok(constraint) = text.parse::<Constraint>() {
        let printed = constraint.to_string();
        let reparsed = printed
            .parse::<Constraint>()
            .unwrap_or_else(|e| panic!("'{printed}' does not parse back: {e}"));
        assert_eq!(reparsed, constraint);
        assert_eq!(reparsed.to_string(), printed);
        let candidate = constraint.version();
        for probe in [
            candidate,
            Version::new(0, 0, 0),
            version.unwrap_or_default(),
        ] {
            assert_eq!(
                constraint.matches(&probe),
                constraint.to_ranges().contains(&probe),
                "'{printed}' disagrees with its ranges on {probe}"
            );
        }
    }
});

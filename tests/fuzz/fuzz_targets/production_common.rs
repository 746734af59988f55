//! Shared by the production loader targets.

use std::path::Path;

use hie_host::production::load_str;
use hie_host::production::model::Location;

pub fn check(path: &str, text: &str) {
    let path = Path::new(path);
    let first = load_str(path, text);
    let again = load_str(path, text);
    match (&first, &again) {
        (Ok(a), Ok(b)) => assert_eq!(a, b, "loading is not deterministic"),
        (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string(), "loading is not deterministic"),
        _ => panic!("loading is not deterministic: {first:?} vs {again:?}"),
    }
    let Ok(config) = first else { return };
    // Line breaks as YAML counts them (CR LF, CR or LF: XML's count of LF is never more),
    // plus one: a line may be one past the last when the file ends without a newline.
    let breaks = text.matches('\r').count() + text.matches('\n').count() - text.matches("\r\n").count();
    let lines = breaks as u32 + 1;
    let check = |l: &Location, what: &str| {
        assert!(l.line <= lines, "{what}: line {} of a {}-line file", l.line, lines - 1);
    };
    check(&config.location, "production");
    for s in &config.settings {
        check(&s.location, &s.name);
    }
    for item in &config.items {
        check(&item.location, &item.name);
        check(&item.pool_size_location, &item.name);
        for s in &item.settings {
            check(&s.location, &s.name);
        }
        let _ = config.item(&item.name);
    }
    let _ = config.setting("Durability");
}

//! A catalog file (`tidemark catalog load`, the admin endpoint, the shipped
//! default): checking it (`parse_file`), its cross-references, and the
//! documents it would write as the engine's validator sees them. What the
//! loader accepts, the validator accepts: a load never fails half-written.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tidemark::domain::catalog::load::{check_refs, parse_file};
use tidemark::domain::catalog::{MODELS, PROVIDERS};
use tidemark::domain::io::Collection;
use tidemark::domain::validate::validate;
use tidemark::engine::{CATALOG, ChangeContext};
use tidemark_fuzz::json_of;

fn validates(collection: &str, id: &str, doc: &impl serde::Serialize) {
    let raw = serde_json::value::to_raw_value(doc).expect("a document prints");
    let ctx = ChangeContext {
        space: CATALOG,
        collection,
        id,
        value: Some(&raw),
        trusted: true,
    };
    if let Err(why) = validate(&ctx) {
        panic!(
            "loaded, then refused by the validator: {why}: {}",
            raw.get()
        );
    }
}

fuzz_target!(|data: &[u8]| {
    let Some(v) = json_of(data) else {
        return;
    };
    let Ok(file) = parse_file(&v) else {
        return;
    };
    let _ = check_refs(&file, &Collection::default(), &Collection::default());
    for p in &file.providers {
        validates(PROVIDERS, &p.id, p);
    }
    for m in &file.models {
        validates(MODELS, &m.id, m);
    }
});

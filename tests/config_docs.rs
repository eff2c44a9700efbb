//! README's configuration section and `tidemark --help` name the same
//! settings: every `TIDEMARK_*` variable the server reads is documented, and
//! the README documents none that does not exist.

use std::collections::BTreeSet;

use clap::{Args, Command};

fn from_help() -> BTreeSet<String> {
    let cmd = tidemark::config::ServeArgs::augment_args(Command::new("tidemark"));
    cmd.get_arguments()
        .filter_map(|a| a.get_env())
        .map(|e| e.to_string_lossy().into_owned())
        .filter(|e| e.starts_with("TIDEMARK_"))
        .collect()
}

fn from_readme() -> BTreeSet<String> {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md");
    let start = readme
        .find("\n## Configuration")
        .expect("a Configuration section");
    let rest = &readme[start + 1..];
    let section = &rest[..rest[3..].find("\n## ").map_or(rest.len(), |i| i + 3)];
    let mut names = BTreeSet::new();
    let bytes = section.as_bytes();
    let mut i = 0;
    while let Some(at) = section[i..].find("TIDEMARK_") {
        let s = i + at;
        let mut e = s + "TIDEMARK_".len();
        while e < bytes.len()
            && (bytes[e].is_ascii_uppercase() || bytes[e].is_ascii_digit() || bytes[e] == b'_')
        {
            e += 1;
        }
        names.insert(section[s..e].trim_end_matches('_').to_string());
        i = e;
    }
    names
}

#[test]
fn readme_and_help_name_the_same_settings() {
    let help = from_help();
    let readme = from_readme();
    let undocumented: Vec<_> = help.difference(&readme).collect();
    let unknown: Vec<_> = readme.difference(&help).collect();
    assert!(
        undocumented.is_empty() && unknown.is_empty(),
        "README -> Configuration lacks {undocumented:?} and names {unknown:?}, which --help does not know"
    );
}

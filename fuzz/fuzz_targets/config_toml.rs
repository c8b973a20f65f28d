//! Run configurations: a TOML file, and the same text as `--set` overrides.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = pretext::config::RunConfig::from_toml(text, &[], "fuzz.toml");
    let overrides: Vec<String> = text.lines().map(str::to_owned).collect();
    let _ = pretext::config::RunConfig::from_toml("", &overrides, "fuzz");
});

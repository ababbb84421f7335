//! Unit and golden tests of the YAML codec.

use super::*;

fn roundtrip(input: &str) -> String {
    let docs = Yaml.parse_plain(input.as_bytes()).expect("parse");
    String::from_utf8(
        Yaml.emit_plain(&docs, &EmitOptions::default())
            .expect("emit"),
    )
    .expect("utf8")
}

#[test]
fn comments_example() {
    let input = "# top comment\n# second top line\n\na: 1 # trailing on a\n# between a and b\nb: x\n\n\nc:\n  - p  # x\n  # between items\n  - q\n  - r\nd:\n  # inside map before key\n  e: 2\n# end comment\n";
    let want = "# top comment\n# second top line\n# trailing on a\na: 1\n# between a and b\nb: x\nc:\n    # x\n    - p\n    # between items\n    - q\n    - r\nd:\n    # inside map before key\n    e: 2\n# end comment\n";
    assert_eq!(roundtrip(input), want);
}

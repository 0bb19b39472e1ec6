//! JSON log lines as a log shipper reads them.

use std::borrow::Cow;

/// The key every JSON log line's fields open with (tracing writes timestamp and level
/// first, whose values cannot hold it, so the first match is the key).
const FIELDS: &str = "\"fields\":{";

/// A JSON log line with its span's `run_id` and `stage` copied into `fields`: an event
/// inside a run's stage carries them only in `span`, a progress event only in `fields`,
/// so without this a query on `fields.run_id` misses a run's stage lines. Other lines
/// (and anything that is not such a JSON object) are returned as they are.
pub fn run_id_in_fields(line: &str) -> Cow<'_, str> {
    if !line.contains("\"span\":{") {
        return Cow::Borrowed(line);
    }
    let Ok(v) = serde_json::from_str::<serde_json::Value>(line.trim_end()) else {
        return Cow::Borrowed(line);
    };
    let (fields, span) = (&v["fields"], &v["span"]);
    let mut add = String::new();
    for key in ["run_id", "stage"] {
        if let (None, Some(value)) = (fields.get(key), span.get(key)) {
            add.push_str(&format!("\"{key}\":{value},"));
        }
    }
    let Some(at) = line.find(FIELDS).map(|i| i + FIELDS.len()) else {
        return Cow::Borrowed(line);
    };
    if add.is_empty() || !fields.is_object() {
        return Cow::Borrowed(line);
    }
    if line[at..].starts_with('}') {
        add.pop(); // fields was empty: no comma before its closing brace
    }
    Cow::Owned(format!("{}{add}{}", &line[..at], &line[at..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stage_line_gets_its_run_id_in_fields() {
        let line = r#"{"timestamp":"t","level":"INFO","fields":{"message":"load: \"fields\":{ x","duration_ms":6},"target":"p","span":{"run_id":"predict-1","stage":"load","name":"stage"}}"#;
        let out = run_id_in_fields(line);
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["fields"]["run_id"], "predict-1");
        assert_eq!(v["fields"]["stage"], "load");
        assert_eq!(v["fields"]["message"], "load: \"fields\":{ x");
        assert_eq!(v["span"]["run_id"], "predict-1");
        // already there: unchanged; no span: unchanged; empty fields: still JSON
        let progress = r#"{"level":"INFO","fields":{"message":"m","run_id":"a","stage":"s"},"span":{"run_id":"a","stage":"s"}}"#;
        assert_eq!(run_id_in_fields(progress), progress);
        let plain = r#"{"level":"INFO","fields":{"message":"m"}}"#;
        assert_eq!(run_id_in_fields(plain), plain);
        let empty = "{\"level\":\"INFO\",\"fields\":{},\"span\":{\"run_id\":\"b\"}}\n";
        let v: serde_json::Value = serde_json::from_str(&run_id_in_fields(empty)).unwrap();
        assert_eq!(v["fields"]["run_id"], "b");
        assert_eq!(
            run_id_in_fields("not json \"span\":{"),
            "not json \"span\":{"
        );
    }
}

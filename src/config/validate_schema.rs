//! Checks of the `[schema]` section: the label and id columns, each feature's name, range
//! and allowed values, with errors that quote the key, the value and what is allowed.

use super::validate::bad;
use super::*;
use crate::error::Result;

pub(super) fn validate_schema(rs: RawSchema) -> Result<Schema> {
    if rs.target.trim().is_empty() {
        return Err(bad("schema.target", "", "must name the label column"));
    }
    if let Some(c) = rs.id_column.as_deref().filter(|c| c.trim().is_empty()) {
        return Err(bad(
            "schema.id_column",
            c,
            "must name the id column (the default is application_id; a file without the id column gets ids made from its name and row)",
        ));
    }
    // Each name once; a second use names both keys (`target = "age"` is the target's
    // mistake as much as schema.numeric's).
    let mut seen: std::collections::HashMap<String, String> = std::collections::HashMap::new();
    let mut check_name = |key: &str, name: &str| -> Result<()> {
        if let Some(first) = seen.get(name) {
            return Err(bad(
                key,
                name,
                &format!("column named twice in the schema (also in {first})"),
            ));
        }
        seen.insert(name.to_string(), key.to_string());
        Ok(())
    };
    check_name("schema.target", &rs.target)?;
    if let Some(id) = &rs.id_column {
        check_name("schema.id_column", id)?;
    }
    for d in &rs.drop {
        check_name("schema.drop", d)?;
    }
    let mut numeric = vec![];
    for (name, r) in rs.numeric {
        check_name("schema.numeric", &name)?;
        if !(r.min.is_finite() && r.max.is_finite() && r.min <= r.max) {
            return Err(bad(
                &format!("schema.numeric.{name}"),
                format!("{}..{}", r.min, r.max),
                "min <= max, both finite",
            ));
        }
        numeric.push((name, r));
    }
    let mut categorical = vec![];
    for (name, values) in rs.categorical {
        check_name("schema.categorical", &name)?;
        let mut out = vec![];
        for v in values {
            match v {
                toml::Value::String(s) => out.push(s),
                toml::Value::Integer(i) => out.push(i.to_string()),
                other => {
                    return Err(bad(
                        &format!("schema.categorical.{name}"),
                        other,
                        "values must be strings or integers",
                    ));
                }
            }
        }
        if out.is_empty() {
            return Err(bad(
                &format!("schema.categorical.{name}"),
                "[]",
                "list at least one allowed value",
            ));
        }
        // A value listed twice (or as both 1 and "1") is most likely a typo for another.
        if let Some(v) = out
            .iter()
            .enumerate()
            .find_map(|(i, v)| out[..i].contains(v).then_some(v))
        {
            return Err(bad(
                &format!("schema.categorical.{name}"),
                v,
                "this allowed value is listed twice: list each value once",
            ));
        }
        categorical.push((name, out));
    }
    if numeric.is_empty() && categorical.is_empty() {
        return Err(bad(
            "schema",
            "",
            "declare at least one numeric or categorical feature",
        ));
    }
    Ok(Schema {
        target: rs.target,
        id_column: rs.id_column,
        drop: rs.drop,
        numeric,
        categorical,
    })
}

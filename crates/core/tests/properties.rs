//! Property tests of the parsers that read what users and senders write: JSON with comments,
//! templates and cron expressions never panic, and what they accept behaves.

use proptest::prelude::*;
use switchboard_core::jsonc;
use switchboard_core::schedule::{CatchUp, CronSchedule};
use switchboard_core::template::Template;

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn jsonc_reads_anything_without_panicking(text in r#"[\[\]{}",:/*\n a-z0-9.\\-]{0,80}"#) {
        let _ = jsonc::parse(&text);
    }

    #[test]
    fn jsonc_reads_plain_json_as_json(value in json_value()) {
        let text = serde_json::to_string_pretty(&value).unwrap();
        prop_assert_eq!(jsonc::parse(&text).unwrap(), value.clone());
        let commented = format!("// a comment\n{text} /* and another */");
        prop_assert_eq!(jsonc::parse(&commented).unwrap(), value);
    }

    #[test]
    fn templates_compile_or_say_why(source in r#"[{}a-z.\[\]'0-9 +()|&!?:=-]{0,60}"#) {
        match Template::compile(&source) {
            Ok(t) => {
                if !source.contains("{{") && !source.contains("}}") {
                    prop_assert_eq!(t.literal(), Some(source.as_str()));
                }
            }
            Err(e) => prop_assert!(!e.to_string().is_empty()),
        }
    }

    #[test]
    fn cron_ticks_move_forward(
        expr in cron_expression(),
        zone in prop::sample::select(vec!["UTC", "America/New_York", "America/Sao_Paulo", "Asia/Kolkata", "Nope/Zone"]),
        start in 1_600_000_000_000i64..1_900_000_000_000i64,
    ) {
        if let Ok(schedule) = CronSchedule::parse(&expr, zone, CatchUp::Latest) {
            let ticks = schedule.upcoming(start, 5);
            let mut previous = start;
            for tick in ticks {
                prop_assert!(tick > previous, "{expr} in {zone}: {tick} after {previous}");
                previous = tick;
            }
        }
    }
}

fn cron_expression() -> impl Strategy<Value = String> {
    let field = prop::sample::select(vec![
        "*", "*/5", "0", "1", "15", "0-30", "1,2,3", "10-20/2", "MON-FRI", "L", "?", "61", "-1",
        "*/0", "JAN", "2#1", "a",
    ]);
    prop::collection::vec(field, 4..8).prop_map(|f| f.join(" "))
}

fn json_value() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::Value;
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        "[a-z /*{}]{0,10}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 32, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::btree_map("[a-z]{1,6}", inner, 0..5)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

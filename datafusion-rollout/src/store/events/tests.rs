//! Parsing of event objects.

use super::*;

fn read(dataset: &str, version: &str) -> Event {
    Event::Read(ReadEvent {
        time: Utc::now(),
        dataset: dataset.into(),
        version: version.into(),
        arm: Arm::Stable,
        consumer: Some("alice".into()),
        reason: "stable".into(),
        rows: Some(3),
        elapsed_ms: 1.5,
        error: None,
        deprecated: vec![],
    })
}

#[test]
fn lines_round_trip_and_unknown_kinds_are_ignored() {
    let mut body = serde_json::to_vec(&read("orders", "v1")).unwrap_or_default();
    body.push(b'\n');
    body.extend_from_slice(b"{\"kind\":\"from_the_future\",\"x\":1}\n");
    let events = parse_lines(&body).unwrap_or_default();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].dataset(), "orders");
}

#[test]
fn truncated_and_garbled_objects_are_corrupt() {
    let mut body = serde_json::to_vec(&read("orders", "v1")).unwrap_or_default();
    let cut = body.len() / 2;
    assert!(parse_lines(&body[..cut]).is_err());
    body.push(b'\n');
    body.extend_from_slice(b"{\"kind\":\"read\",\"dataset\":1}\n");
    let err = parse_lines(&body).err().unwrap_or_default();
    assert!(err.starts_with("line 2:"), "{err}");
}

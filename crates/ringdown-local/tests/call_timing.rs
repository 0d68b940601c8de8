//! ringdown's outcome deadlines assume a bound on how long the contact flow
//! itself can run; the shipped flows must stay within it.

use connect_flow::{longest_run, validate_json};
use ringdown_core::escalation::CallTiming;

#[test]
fn the_contact_flows_never_run_longer_than_the_deadlines_assume() {
    let timing = CallTiming::default();
    for lang in ["en-US", "ja-JP"] {
        let path = format!(
            "{}/../../contact-flows/ringdown-{lang}.json",
            env!("CARGO_MANIFEST_DIR")
        );
        let flow = validate_json(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let longest = longest_run(&flow, timing.speech_ms_per_char);
        assert!(
            longest.as_secs() <= timing.flow_secs,
            "{lang}: the flow can run {} s at {} ms a character; CallTiming::flow_secs says {}",
            longest.as_secs(),
            timing.speech_ms_per_char,
            timing.flow_secs
        );
        // And the bound is not wildly loose either.
        assert!(
            longest.as_secs() * 2 > timing.flow_secs,
            "{lang}: {} s",
            longest.as_secs()
        );
    }
}

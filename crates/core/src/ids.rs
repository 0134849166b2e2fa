//! Opaque, time-ordered ids with a type prefix (`wf_…`, `st_…`): UUIDv7 in lower-case hex, so ids
//! sort by creation time, which keyset pagination relies on.

pub const STORE: &str = "st";
pub const TOKEN: &str = "tok";
pub const WORKFLOW: &str = "wf";
pub const EVENT: &str = "evt";
pub const RUN: &str = "run";

pub fn new_id(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::now_v7().simple())
}

#[cfg(test)]
mod tests {
    #[test]
    fn ids_are_prefixed_and_ordered() {
        let a = super::new_id(super::WORKFLOW);
        let b = super::new_id(super::WORKFLOW);
        assert!(a.starts_with("wf_") && a.len() == 35);
        assert!(a < b);
    }
}

//! "Did you mean …?": the known names closest to one that is not known (a misspelt event type,
//! template root or field).

/// Up to three of `known` within a few edits of `word` (case aside), closest first.
pub fn closest<'a>(word: &str, known: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let lower = word.to_lowercase();
    let mut scored: Vec<(usize, &str)> = known
        .into_iter()
        .filter(|k| *k != word)
        .filter_map(|k| {
            let distance = strsim::levenshtein(&lower, &k.to_lowercase());
            let allowed = (k.chars().count().max(word.chars().count()) / 3).max(2);
            (distance <= allowed).then_some((distance, k))
        })
        .collect();
    scored.sort();
    scored.dedup();
    scored
        .into_iter()
        .take(3)
        .map(|(_, k)| k.to_owned())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::closest;

    #[test]
    fn near_names_come_first_and_far_ones_not_at_all() {
        let known = [
            "Lead_Workflow_phase_1",
            "Lead_Workflow_phase_2",
            "order.paid",
        ];
        assert_eq!(
            closest("Lead_Workflow_phase1", known),
            ["Lead_Workflow_phase_1", "Lead_Workflow_phase_2"]
        );
        assert_eq!(
            closest("lead_workflow_phase_2", known)[0],
            "Lead_Workflow_phase_2"
        );
        assert!(closest("cart.abandoned", known).is_empty());
        assert_eq!(
            closest("triger", ["trigger", "state", "steps"]),
            ["trigger"]
        );
    }
}

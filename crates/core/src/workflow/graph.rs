//! Drafts of nodes, as the format readers produce them, and `finish`, which turns them into the
//! graph: duplicate ids, dangling targets and unreachable steps are found here, once, for both
//! formats.

use std::collections::{HashMap, VecDeque};

use super::fields::{Context, Fields, OPTIONAL, REQUIRED};
use super::{Condition, Edge, Node, OnError, Retry, Trigger, Workflow, check_name};
use crate::Report;

/// Where an edge leads before ids are resolved.
pub(crate) enum Target {
    Node(usize),
    Id { id: String, pointer: String },
}

pub(crate) struct DraftEdge {
    pub target: Target,
    pub when: Condition,
}

pub(crate) enum DraftOnError {
    Fail,
    Continue,
    Goto(Vec<DraftEdge>),
}

pub(crate) struct DraftNode<S> {
    pub id: String,
    pub id_pointer: String,
    pub pointer: String,
    pub name: Option<String>,
    pub step_type: String,
    pub spec: Option<S>,
    pub output_var: Option<String>,
    pub retry: Option<Retry>,
    pub next: Vec<DraftEdge>,
    pub on_error: DraftOnError,
    /// The JavaScript expressions of the step's config.
    pub scripts: Vec<String>,
}

/// The expressions (not `custom_code` bodies) noted since `noted` scripts, once each.
pub(crate) fn expressions_since(ctx: &super::Context, noted: usize) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for s in ctx.scripts[noted..].iter().filter(|s| !s.is_code) {
        if !out.contains(&s.source) {
            out.push(s.source.clone());
        }
    }
    out
}

/// What a format reader produces.
pub(crate) struct Draft<S> {
    pub trigger: Option<Trigger>,
    pub entry: Vec<DraftEdge>,
    pub nodes: Vec<DraftNode<S>>,
    pub context_variables: Vec<String>,
}

/// Top-level fields common to both formats.
pub(crate) struct Meta {
    name: Option<String>,
    description: Option<String>,
    max_steps: u64,
}

impl Meta {
    pub fn read(top: &mut Fields<'_, '_>) -> Meta {
        let name = top.string("name", REQUIRED);
        if let Some(Err(e)) = name.as_deref().map(check_name) {
            top.error("name", e);
        }
        let description = top.string("description", OPTIONAL);
        if let Some(n) = description
            .as_ref()
            .map(|d| d.chars().count())
            .filter(|n| *n > 4096)
        {
            top.error(
                "description",
                format!("description is {n} characters long; at most 4096 are allowed"),
            );
        }
        // `active` is a setting of the stored workflow, read by the API; it is part of the format.
        top.boolean("active", OPTIONAL);
        let max_steps = top
            .integer("maxSteps", OPTIONAL, 1, 1_000_000)
            .unwrap_or(1000);
        Meta {
            name,
            description,
            max_steps,
        }
    }
}

pub(crate) fn finish<S>(meta: Meta, draft: Draft<S>, ctx: &mut Context) -> Option<Workflow<S>> {
    let report = &mut ctx.report;
    let first = first_of_each_id(&draft.nodes, report);
    let mut resolve = |edges: Vec<DraftEdge>| -> Vec<Edge> {
        edges
            .into_iter()
            .filter_map(|e| {
                let target = match e.target {
                    Target::Node(i) => i,
                    Target::Id { id, pointer } => match first.get(id.as_str()) {
                        Some(&i) => i,
                        None => {
                            report.error(pointer, format!("no step has the id '{id}'"));
                            return None;
                        }
                    },
                };
                Some(Edge {
                    target,
                    when: e.when,
                })
            })
            .collect()
    };
    let entry = resolve(draft.entry);
    // Nodes whose config had errors keep `spec: None` until the graph checks are done.
    let nodes: Vec<Node<Option<S>>> = draft
        .nodes
        .into_iter()
        .map(|d| Node {
            next: resolve(d.next),
            on_error: match d.on_error {
                DraftOnError::Fail => OnError::Fail,
                DraftOnError::Continue => OnError::Continue,
                DraftOnError::Goto(edges) => OnError::Goto(resolve(edges)),
            },
            id: d.id,
            name: d.name,
            step_type: d.step_type,
            spec: d.spec,
            output_var: d.output_var,
            retry: d.retry,
            pointer: d.pointer,
            scripts: d.scripts,
        })
        .collect();

    report_unreachable(&entry, &nodes, report);

    let (Some(name), Some(trigger), true) = (meta.name, draft.trigger, report.is_valid()) else {
        return None;
    };
    let nodes = nodes
        .into_iter()
        .map(Node::with_spec)
        .collect::<Option<Vec<_>>>()?;
    Some(Workflow {
        name,
        description: meta.description,
        format: super::Format::Native, // the caller sets the detected format
        trigger,
        entry,
        nodes,
        context_variables: draft.context_variables,
        max_steps: meta.max_steps,
    })
}

/// Where each step id is first used; a repeat is reported at its pointer.
fn first_of_each_id<S>(nodes: &[DraftNode<S>], report: &mut Report) -> HashMap<String, usize> {
    let mut first: HashMap<String, usize> = HashMap::new();
    for (i, node) in nodes.iter().enumerate() {
        if let Some(&j) = first.get(node.id.as_str()) {
            report.error(
                &node.id_pointer,
                format!(
                    "duplicate step id '{}' (first used at {})",
                    node.id, nodes[j].id_pointer
                ),
            );
        } else {
            first.insert(node.id.clone(), i);
        }
    }
    first
}

/// Every step must be reachable from the trigger, through transitions or error edges.
fn report_unreachable<S>(entry: &[Edge], nodes: &[Node<S>], report: &mut Report) {
    let mut seen = vec![false; nodes.len()];
    let mut queue: VecDeque<usize> = entry.iter().map(|e| e.target).collect();
    while let Some(i) = queue.pop_front() {
        if std::mem::replace(&mut seen[i], true) {
            continue;
        }
        queue.extend(nodes[i].next.iter().map(|e| e.target));
        if let OnError::Goto(edges) = &nodes[i].on_error {
            queue.extend(edges.iter().map(|e| e.target));
        }
    }
    for (node, reached) in nodes.iter().zip(&seen) {
        if !reached {
            report.error(
                &node.pointer,
                format!(
                    "step '{}' is unreachable: no transition leads to it",
                    node.id
                ),
            );
        }
    }
}

impl<S> Node<Option<S>> {
    /// The node with its spec, when its config was valid.
    fn with_spec(self) -> Option<Node<S>> {
        Some(Node {
            spec: self.spec?,
            id: self.id,
            name: self.name,
            step_type: self.step_type,
            output_var: self.output_var,
            retry: self.retry,
            next: self.next,
            on_error: self.on_error,
            pointer: self.pointer,
            scripts: self.scripts,
        })
    }
}

//! The pipeline tree as rows: organization → project → pipeline → services along the steps.
//! Built when the structure, a collapse or the filter changes; never per frame. Rows hold only
//! identities: what changes with time or versions is read when a visible row is drawn.

use std::collections::{BTreeMap, HashSet};

use std::collections::HashMap;

use crate::model::{ServiceKey, State, Step, StepId};

use super::filter::{self, Filter};

/// What a row of the tree shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RowKind {
    /// An organization.
    Org(String),
    /// A project of an organization.
    Project(String),
    /// An upgrade pipeline, named by its root service.
    Pipeline {
        /// The service at the top of the pipeline.
        root: ServiceKey,
        /// `pg  pg-dev → pg-staging → pg-prod`.
        title: String,
    },
    /// A service, in a pipeline or on its own.
    Service {
        /// The service.
        key: ServiceKey,
        /// Whether it belongs to no pipeline.
        standalone: bool,
    },
}

/// One row of the tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// Nesting level: org 0, project 1, pipeline 2, services 3.
    pub depth: u8,
    /// Branch glyphs drawn before a service (`└ `, `│  ├ `).
    pub branch: String,
    /// What the row is.
    pub kind: RowKind,
    /// The id used to collapse it, for rows that have children.
    pub node: Option<String>,
    /// Whether its children are hidden.
    pub collapsed: bool,
}

impl Row {
    /// The service on this row, if any.
    #[must_use]
    pub fn service(&self) -> Option<&ServiceKey> {
        match &self.kind {
            RowKind::Service { key, .. } => Some(key),
            RowKind::Pipeline { root, .. } => Some(root),
            _ => None,
        }
    }
}

/// The collapse id of an organization, project or pipeline.
#[must_use]
pub fn node_id(kind: &RowKind) -> Option<String> {
    match kind {
        RowKind::Org(o) => Some(format!("o:{o}")),
        RowKind::Project(p) => Some(format!("p:{p}")),
        RowKind::Pipeline { root, .. } => Some(format!("l:{root}")),
        RowKind::Service { .. } => None,
    }
}

fn service_text(state: &State, key: &ServiceKey) -> String {
    let t = state
        .services
        .get(key)
        .map(|s| s.service_type.as_str())
        .unwrap_or_default();
    format!("{key} {t}")
}

/// Builds the rows of `state`, skipping the children of `collapsed` nodes and services `filter`
/// drops (a pipeline stays while any of its services passes).
#[must_use]
pub fn build(
    state: &State,
    sources: &Sources,
    collapsed: &HashSet<String>,
    filter: Option<&Filter>,
) -> Vec<Row> {
    let mut by_org: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for p in state.projects.values() {
        by_org
            .entry(p.organization_id.as_str())
            .or_default()
            .push(p.name.as_str());
    }
    let mut by_project: BTreeMap<&str, Vec<&ServiceKey>> = BTreeMap::new();
    for key in state.services.keys() {
        if state.step_into(key).is_none() {
            by_project
                .entry(key.project.as_str())
                .or_default()
                .push(key);
        }
    }
    let mut rows = Vec::new();
    for (org, projects) in by_org {
        let org_start = rows.len();
        push_header(&mut rows, 0, RowKind::Org(org.to_string()), collapsed);
        let org_open = !rows[org_start].collapsed;
        for project in projects {
            let roots = by_project.get(project).map(Vec::as_slice).unwrap_or(&[]);
            let mut body = Vec::new();
            for root in roots {
                push_root(&mut body, state, sources, root, collapsed, filter);
            }
            if body.is_empty() {
                // Its services all sit in pipelines rooted elsewhere (P5).
                continue;
            }
            if !org_open {
                continue;
            }
            let kind = RowKind::Project(project.to_string());
            push_header(&mut rows, 1, kind, collapsed);
            if rows.last().is_some_and(|r| !r.collapsed) {
                rows.extend(body);
            }
        }
        if filter.is_some() && rows.len() == org_start + 1 && org_open {
            rows.truncate(org_start);
        }
    }
    rows
}

fn push_header(rows: &mut Vec<Row>, depth: u8, kind: RowKind, collapsed: &HashSet<String>) {
    let node = node_id(&kind);
    let is_collapsed = node.as_ref().is_some_and(|n| collapsed.contains(n));
    rows.push(Row {
        depth,
        branch: String::new(),
        kind,
        node,
        collapsed: is_collapsed,
    });
}

fn push_root(
    rows: &mut Vec<Row>,
    state: &State,
    sources: &Sources,
    root: &ServiceKey,
    collapsed: &HashSet<String>,
    filter: Option<&Filter>,
) {
    if sources.of(state, root).is_empty() {
        if filter::keeps(filter, &service_text(state, root)) {
            rows.push(Row {
                depth: 2,
                branch: String::new(),
                kind: RowKind::Service {
                    key: root.clone(),
                    standalone: true,
                },
                node: None,
                collapsed: false,
            });
        }
        return;
    }
    let mut services = Vec::new();
    walk(
        state,
        sources,
        root,
        String::new(),
        String::new(),
        &mut services,
        0,
    );
    let kept: Vec<Row> = services
        .into_iter()
        .filter(|r| {
            r.service()
                .is_some_and(|k| filter::keeps(filter, &service_text(state, k)))
        })
        .collect();
    if kept.is_empty() {
        return;
    }
    let kind = RowKind::Pipeline {
        root: root.clone(),
        title: pipeline_title(state, sources, root),
    };
    push_header(rows, 2, kind, collapsed);
    if rows.last().is_some_and(|r| !r.collapsed) {
        rows.extend(kept);
    }
}

fn walk(
    state: &State,
    sources: &Sources,
    key: &ServiceKey,
    branch: String,
    indent: String,
    out: &mut Vec<Row>,
    level: usize,
) {
    out.push(Row {
        depth: 3,
        branch,
        kind: RowKind::Service {
            key: key.clone(),
            standalone: false,
        },
        node: None,
        collapsed: false,
    });
    if level > 4 {
        return;
    }
    let mut children: Vec<&ServiceKey> = sources
        .of(state, key)
        .iter()
        .map(|s| &s.destination)
        .collect();
    children.sort();
    let n = children.len();
    for (i, child) in children.into_iter().enumerate() {
        let last = i + 1 == n;
        let branch = format!("{indent}{}", if last { "└ " } else { "├ " });
        let deeper = format!("{indent}{}", if last { "  " } else { "│ " });
        walk(state, sources, child, branch, deeper, out, level + 1);
    }
}

/// `pg  pg-dev → pg-staging → pg-prod`, or `kafka  kafka-dev ⇉ kafka-eu, kafka-na` for a fan-out.
#[must_use]
pub fn pipeline_title(state: &State, sources: &Sources, root: &ServiceKey) -> String {
    let kind = state
        .services
        .get(root)
        .map(|s| s.service_type.as_str())
        .unwrap_or_default();
    let mut text = format!("{kind}  {}", root.name);
    let mut level = vec![root.clone()];
    for _ in 0..4 {
        let mut next: Vec<ServiceKey> = level
            .iter()
            .flat_map(|k| {
                sources
                    .of(state, k)
                    .into_iter()
                    .map(|s| s.destination.clone())
            })
            .collect();
        if next.is_empty() {
            break;
        }
        next.sort();
        let names: Vec<&str> = next.iter().map(|k| k.name.as_str()).collect();
        let arrow = if next.len() > 1 { " ⇉ " } else { " → " };
        text.push_str(arrow);
        text.push_str(&names.join(", "));
        level = next;
    }
    text
}

/// Steps by source service. `State::steps_from` scans every step for a service that is the
/// source of none; the tree asks that of every leaf, so the dashboard keeps its own map.
#[derive(Debug, Clone, Default)]
pub struct Sources(HashMap<ServiceKey, Vec<StepId>>);

impl Sources {
    /// Maps every step of `state` by its source.
    #[must_use]
    pub fn build(state: &State) -> Sources {
        let mut map: HashMap<ServiceKey, Vec<StepId>> = HashMap::new();
        for s in state.steps.values() {
            map.entry(s.source.clone()).or_default().push(s.step_id);
        }
        Sources(map)
    }

    /// The steps whose source is `key`.
    #[must_use]
    pub fn of<'a>(&self, state: &'a State, key: &ServiceKey) -> Vec<&'a Step> {
        self.0
            .get(key)
            .map(|ids| ids.iter().filter_map(|id| state.steps.get(id)).collect())
            .unwrap_or_default()
    }
}

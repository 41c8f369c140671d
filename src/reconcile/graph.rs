//! The step graph: steps are nodes, "must happen before" are edges (petgraph). The order is a
//! topological sort with the step id as tie-break, so the same inputs always give the same plan.

use std::collections::{BTreeSet, HashMap};

use petgraph::graph::{DiGraph, NodeIndex};

/// Why steps could not be ordered.
#[derive(Debug, thiserror::Error)]
pub enum GraphError {
    /// An edge names a step that is not in the graph.
    #[error("step {from} depends on missing step {to}")]
    MissingDependency {
        /// The dependent step.
        from: String,
        /// The missing one.
        to: String,
    },
    /// Steps depend on each other in a circle.
    #[error("dependency cycle between steps: {}", .0.join(" -> "))]
    Cycle(Vec<String>),
}

/// Order `ids` so that for every `(before, after)` edge `before` comes first; ties are broken
/// by id. Returns the ids in order.
pub fn order(ids: &[String], edges: &[(String, String)]) -> Result<Vec<String>, GraphError> {
    let mut graph: DiGraph<&str, ()> = DiGraph::with_capacity(ids.len(), edges.len());
    let index: HashMap<&str, NodeIndex> = ids
        .iter()
        .map(|id| (id.as_str(), graph.add_node(id.as_str())))
        .collect();
    for (before, after) in edges {
        let (Some(&a), Some(&b)) = (index.get(before.as_str()), index.get(after.as_str())) else {
            let missing = if index.contains_key(before.as_str()) {
                after
            } else {
                before
            };
            let from = if missing == before { after } else { before };
            return Err(GraphError::MissingDependency {
                from: from.clone(),
                to: missing.clone(),
            });
        };
        graph.update_edge(a, b, ());
    }
    let mut indegree: Vec<usize> = graph
        .node_indices()
        .map(|n| graph.neighbors_directed(n, petgraph::Incoming).count())
        .collect();
    let mut ready: BTreeSet<(&str, NodeIndex)> = graph
        .node_indices()
        .filter(|n| indegree[n.index()] == 0)
        .map(|n| (graph[n], n))
        .collect();
    let mut out = Vec::with_capacity(ids.len());
    while let Some((id, n)) = ready.pop_first() {
        out.push(id.to_string());
        for next in graph.neighbors_directed(n, petgraph::Outgoing) {
            indegree[next.index()] -= 1;
            if indegree[next.index()] == 0 {
                ready.insert((graph[next], next));
            }
        }
    }
    if out.len() != ids.len() {
        let cycle = petgraph::algo::tarjan_scc(&graph)
            .into_iter()
            .find(|c| c.len() > 1)
            .unwrap_or_default();
        let mut names: Vec<String> = cycle.iter().map(|n| graph[*n].to_string()).collect();
        names.sort();
        return Err(GraphError::Cycle(names));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn dependencies_first_then_id_order() {
        let ids = s(&["file:a/x", "dir:a", "file:b", "config:config.toml"]);
        let edges = vec![("dir:a".to_string(), "file:a/x".to_string())];
        assert_eq!(
            order(&ids, &edges).unwrap(),
            s(&["config:config.toml", "dir:a", "file:a/x", "file:b"])
        );
    }

    #[test]
    fn cycles_and_missing_steps_are_named() {
        let ids = s(&["a", "b", "c"]);
        let edges = vec![("a".into(), "b".into()), ("b".into(), "a".into())];
        let err = order(&ids, &edges).unwrap_err().to_string();
        assert!(err.contains("a -> b"), "{err}");
        let err = order(&ids, &[("a".into(), "zz".into())]).unwrap_err().to_string();
        assert!(err.contains("zz"), "{err}");
    }
}

//! Compiled graphs by workflow version. A version never changes, so entries never go stale.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use switchboard_core::workflow::{Options, Workflow};
use switchboard_steps::StepSpec;
use switchboard_store::{Store, StoreError};

pub type Graph = Workflow<StepSpec>;

/// Versions kept at most; beyond that the cache starts over (recompiling is cheap).
const CAPACITY: usize = 10_000;

pub struct Graphs {
    store: Arc<dyn Store>,
    options: Options,
    map: Mutex<HashMap<(String, i64), Arc<Graph>>>,
}

impl Graphs {
    pub fn new(store: Arc<dyn Store>, options: Options) -> Graphs {
        Graphs {
            store,
            options,
            map: Mutex::new(HashMap::new()),
        }
    }

    /// The graph of a version; `None` when the version does not exist (or no longer compiles,
    /// which is logged).
    pub async fn get(
        &self,
        store_id: &str,
        workflow_id: &str,
        version: i64,
    ) -> Result<Option<Arc<Graph>>, StoreError> {
        let key = (workflow_id.to_owned(), version);
        if let Some(g) = self.map.lock().expect("graph cache").get(&key) {
            return Ok(Some(g.clone()));
        }
        let Some(record) = self
            .store
            .get_version(store_id, workflow_id, version)
            .await?
        else {
            return Ok(None);
        };
        let compiled = switchboard_steps::compile_stored(&record.definition, &self.options);
        let Some(graph) = compiled.workflow else {
            tracing::error!(workflow_id, version, errors = ?compiled.report.errors, "a stored workflow version no longer compiles");
            return Ok(None);
        };
        Ok(Some(self.insert(workflow_id, version, graph)))
    }

    /// Caches a graph compiled elsewhere (the API compiles on save).
    pub fn insert(&self, workflow_id: &str, version: i64, graph: Graph) -> Arc<Graph> {
        let graph = Arc::new(graph);
        let mut map = self.map.lock().expect("graph cache");
        if map.len() >= CAPACITY {
            map.clear();
        }
        map.insert((workflow_id.to_owned(), version), graph.clone());
        graph
    }
}

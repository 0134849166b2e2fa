//! Whether the database took the last writes. A fault a writer meets (a full disk, a read-only
//! file system, an I/O error, a lost connection) holds until a later batch commits without one,
//! so readiness says what is wrong and recovers by itself when the cause goes.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::{Fault, StoreError};

#[derive(Default)]
pub struct Health {
    fault: Mutex<Option<Fault>>,
    /// A fault was met since the current batch began.
    in_batch: AtomicBool,
}

impl Health {
    /// The fault that holds now, if any.
    pub fn fault(&self) -> Option<Fault> {
        *self.fault.lock().expect("health")
    }

    /// Notes an error a write met.
    pub fn saw(&self, e: &StoreError) {
        if let StoreError::Unavailable { fault, .. } = e {
            *self.fault.lock().expect("health") = Some(*fault);
            self.in_batch.store(true, Ordering::Relaxed);
        }
    }

    pub(crate) fn batch_began(&self) {
        self.in_batch.store(false, Ordering::Relaxed);
    }

    /// A batch ended: committed (a fault its requests met still holds), or not.
    pub(crate) fn batch_ended(&self, commit: &Result<(), StoreError>) {
        match commit {
            Ok(()) if !self.in_batch.load(Ordering::Relaxed) => {
                *self.fault.lock().expect("health") = None;
            }
            Ok(()) => {}
            Err(e) => self.saw(e),
        }
    }
}

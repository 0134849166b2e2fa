//! The memory a runtime may use, and when it must stop. QuickJS allocates through Rust's global
//! allocator (one allocator for the whole process, and no glibc arenas created and zeroed per
//! runtime) and is refused past the limit. A refusal is remembered: when memory is so short that
//! QuickJS cannot even build its "out of memory" error, it throws `null`, and the flag still tells
//! what happened.
//!
//! The allocator also refuses once the script's deadline has passed. The interrupt handler is only
//! consulted between bytecode instructions, so a native built-in (`Array.prototype.join` over a
//! billion holes, `JSON.parse`) could otherwise run far past its limit; every such built-in
//! allocates as it goes, and a refusal ends it.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use rquickjs::allocator::{Allocator, RustAllocator};

/// When the running script must stop; whether it was stopped for it.
#[derive(Default)]
pub struct Deadline {
    /// Nanoseconds since [`epoch`]; 0 = none.
    at: AtomicU64,
    fired: AtomicBool,
}

fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

impl Deadline {
    pub fn arm(&self, timeout: Duration) {
        let at = (epoch().elapsed() + timeout).as_nanos() as u64;
        self.fired.store(false, Ordering::Relaxed);
        self.at.store(at, Ordering::Relaxed);
    }

    pub fn disarm(&self) {
        self.at.store(0, Ordering::Relaxed);
    }

    /// Whether the deadline has passed (and so the script is being stopped).
    pub fn passed(&self) -> bool {
        let at = self.at.load(Ordering::Relaxed);
        let late = at != 0 && epoch().elapsed().as_nanos() as u64 > at;
        if late {
            self.fired.store(true, Ordering::Relaxed);
        }
        late
    }

    pub fn fired(&self) -> bool {
        self.fired.load(Ordering::Relaxed)
    }
}

/// Allocations between two looks at the clock; a large one is always looked at.
const CLOCK_EVERY: u32 = 256;
const LARGE: usize = 4096;

pub struct Limited {
    limit: usize,
    used: usize,
    refused: Arc<AtomicBool>,
    deadline: Arc<Deadline>,
    since_clock: u32,
}

impl Limited {
    /// An allocator refusing past `limit` bytes or `deadline`, and the flag it raises when it
    /// refuses for memory.
    pub fn new(limit: usize, deadline: Arc<Deadline>) -> (Limited, Arc<AtomicBool>) {
        let refused = Arc::new(AtomicBool::new(false));
        let allocator = Limited {
            limit,
            used: 0,
            refused: refused.clone(),
            deadline,
            since_clock: 0,
        };
        (allocator, refused)
    }

    fn admit(&mut self, size: usize) -> bool {
        if self.used.saturating_add(size) > self.limit {
            self.refused.store(true, Ordering::Relaxed);
            return false;
        }
        self.since_clock += 1;
        if size >= LARGE || self.since_clock >= CLOCK_EVERY {
            self.since_clock = 0;
            return !self.deadline.passed();
        }
        true
    }

    /// Counts an allocation's usable size once it succeeded.
    fn granted(&mut self, ptr: *mut u8) -> *mut u8 {
        if !ptr.is_null() {
            // SAFETY: `ptr` was just returned by `RustAllocator`.
            self.used += unsafe { RustAllocator::usable_size(ptr) };
        }
        ptr
    }
}

// SAFETY: every call is forwarded to `RustAllocator`, which upholds the contract; this only
// refuses (returns null) before forwarding and keeps count of the usable sizes handed out.
unsafe impl Allocator for Limited {
    fn alloc(&mut self, size: usize) -> *mut u8 {
        if !self.admit(size) {
            return std::ptr::null_mut();
        }
        let ptr = RustAllocator.alloc(size);
        self.granted(ptr)
    }

    fn calloc(&mut self, count: usize, size: usize) -> *mut u8 {
        if !self.admit(count.saturating_mul(size)) {
            return std::ptr::null_mut();
        }
        let ptr = RustAllocator.calloc(count, size);
        self.granted(ptr)
    }

    unsafe fn dealloc(&mut self, ptr: *mut u8) {
        // SAFETY: the caller passes a pointer this allocator (i.e. `RustAllocator`) returned.
        unsafe {
            self.used -= RustAllocator::usable_size(ptr);
            RustAllocator.dealloc(ptr);
        }
    }

    unsafe fn realloc(&mut self, ptr: *mut u8, new_size: usize) -> *mut u8 {
        // SAFETY: as for `dealloc`.
        unsafe {
            let old = RustAllocator::usable_size(ptr);
            if new_size > old && !self.admit(new_size - old) {
                return std::ptr::null_mut();
            }
            let moved = RustAllocator.realloc(ptr, new_size);
            if !moved.is_null() {
                self.used = self.used - old + RustAllocator::usable_size(moved);
            }
            moved
        }
    }

    unsafe fn usable_size(ptr: *mut u8) -> usize {
        // SAFETY: as for `dealloc`.
        unsafe { RustAllocator::usable_size(ptr) }
    }
}

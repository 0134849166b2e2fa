//! The memory a runtime may use. QuickJS allocates through Rust's global allocator (one allocator
//! for the whole process, and no glibc arenas created and zeroed per runtime) and is refused past
//! the limit. A refusal is remembered: when memory is so short that QuickJS cannot even build its
//! "out of memory" error, it throws `null`, and the flag still tells what happened.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use rquickjs::allocator::{Allocator, RustAllocator};

pub struct Limited {
    limit: usize,
    used: usize,
    refused: Arc<AtomicBool>,
}

impl Limited {
    /// An allocator refusing past `limit` bytes, and the flag it raises when it does.
    pub fn new(limit: usize) -> (Limited, Arc<AtomicBool>) {
        let refused = Arc::new(AtomicBool::new(false));
        let allocator = Limited {
            limit,
            used: 0,
            refused: refused.clone(),
        };
        (allocator, refused)
    }

    fn admit(&mut self, size: usize) -> bool {
        if self.used.saturating_add(size) > self.limit {
            self.refused.store(true, Ordering::Relaxed);
            return false;
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

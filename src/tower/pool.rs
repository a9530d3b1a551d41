//! A per-thread pool of heap blocks for service futures: a request's future is boxed in the block
//! the previous request's future of the same layout left behind, not a fresh allocation (an
//! axum Router's future is over a kilobyte: past glibc's per-thread cache, a slow `malloc`).
//!
//! INVARIANT: every block in a thread's pool was allocated by the global allocator with the
//! layout kept beside it, and holds no live value; a block leaves the pool only to become a
//! `Box` of a type of exactly that layout, and a recycled `Box`'s value is dropped before its
//! block enters the pool.

use std::alloc::Layout;
use std::cell::RefCell;
use std::pin::Pin;
use std::ptr::NonNull;

/// At most this many blocks kept per thread (a few service future types at most).
const KEEP: usize = 8;

/// A thread's free blocks, each with its layout; given back to the allocator with the thread.
struct Blocks(Vec<(Layout, NonNull<u8>)>);

impl Drop for Blocks {
    fn drop(&mut self) {
        for (layout, block) in self.0.drain(..) {
            // SAFETY: the module's invariant: allocated with `layout` by the global allocator,
            // holding no value, owned by the pool alone.
            unsafe { std::alloc::dealloc(block.as_ptr(), layout) };
        }
    }
}

thread_local! {
    static POOL: RefCell<Blocks> = const { RefCell::new(Blocks(Vec::new())) };
}

/// `value` boxed, in a pooled block of its layout when this thread has one.
pub(crate) fn boxed<T>(value: T) -> Pin<Box<T>> {
    let layout = Layout::new::<T>();
    if layout.size() != 0 {
        let block = POOL
            .try_with(|pool| {
                let mut pool = pool.try_borrow_mut().ok()?;
                let at = pool.0.iter().position(|(l, _)| *l == layout)?;
                Some(pool.0.swap_remove(at).1)
            })
            .ok()
            .flatten();
        if let Some(block) = block {
            let ptr = block.cast::<T>().as_ptr();
            // SAFETY: the module's invariant: the block was allocated by the global allocator
            // with `T`'s layout and is free, so writing a `T` there and owning it as a
            // `Box<T>` is what `Box::new` would have done.
            return Box::into_pin(unsafe {
                ptr.write(value);
                Box::from_raw(ptr)
            });
        }
    }
    Box::pin(value)
}

/// Drops `boxed`'s value in place and keeps its block for the next [`boxed`] of its layout (or
/// frees it when the pool is full).
pub(crate) fn recycle<T>(boxed: Pin<Box<T>>) {
    let layout = Layout::new::<T>();
    // SAFETY: the value is dropped where it is, never moved, as `Pin` requires.
    let raw = Box::into_raw(unsafe { Pin::into_inner_unchecked(boxed) });
    // SAFETY: `raw` is the box's valid, owned value, dropped once; if its drop panics the block
    // is leaked, never reused.
    unsafe { std::ptr::drop_in_place(raw) };
    let Some(block) = NonNull::new(raw.cast::<u8>()) else { return };
    if layout.size() == 0 {
        return; // a zero-sized box owns no block
    }
    let kept = POOL
        .try_with(|pool| {
            let Ok(mut pool) = pool.try_borrow_mut() else { return false };
            if pool.0.len() >= KEEP {
                return false;
            }
            pool.0.push((layout, block));
            true
        })
        .unwrap_or(false);
    if !kept {
        // SAFETY: a `Box<T>`'s block (global allocator, `T`'s layout), its value dropped.
        unsafe { std::alloc::dealloc(block.as_ptr(), layout) };
    }
}

//! Boot-time self-tests of the page allocator.

//! Boot-time self-tests of SLUB and kmalloc.

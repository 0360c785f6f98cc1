//! Self-tests of SMP bring-up and IPIs.

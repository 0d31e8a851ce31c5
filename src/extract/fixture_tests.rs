//! Per-format tests on the real fixtures under tests/fixtures/. (being written)

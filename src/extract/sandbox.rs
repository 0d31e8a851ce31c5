//! Worker processes. (being written)

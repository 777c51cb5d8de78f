//! The resolved fleet. (STUB: being written.)

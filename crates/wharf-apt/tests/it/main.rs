//! Integration tests for `wharf-apt`, one binary with a module per area. They use the
//! real `dpkg-deb`, `dpkg-scanpackages` and `gpgv`.

mod debs;
mod scanpackages;
mod signing;

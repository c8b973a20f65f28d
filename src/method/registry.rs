//! Method names → method types, from one list: the `methods!` invocation in
//! `method/mod.rs`, which declares each method's module and generates [`NAMES`] (which the
//! command line offers and the tests walk) and [`dispatch`] (which runs a
//! [`MethodJob`](crate::method::MethodJob) with the named method's type). Adding a method is
//! its own file plus one line of that list.
//!
//! [`NAMES`]: crate::method::NAMES
//! [`dispatch`]: crate::method::dispatch

/// Declares the methods: `"name" => module::Type` each, in the order `--help` lists them.
macro_rules! methods {
    ($($name:literal => $module:ident :: $ty:ident),* $(,)?) => {
        $(pub mod $module;)*

        /// Names of all registered methods.
        pub const NAMES: &[&str] = &[$($name),*];

        /// Runs `job` with the method registered as `name`.
        ///
        /// # Errors
        /// When no method has that name (the message lists those that do).
        pub fn dispatch<J: MethodJob>(name: &str, job: J) -> anyhow::Result<J::Output> {
            Ok(match name {
                $($name => job.run::<$module::$ty>(),)*
                _ => anyhow::bail!(
                    "unknown method `{name}`; known methods: {}",
                    NAMES.join(", ")
                ),
            })
        }
    };
}

pub(crate) use methods;

//! Vectorised expression evaluation on Arrow.

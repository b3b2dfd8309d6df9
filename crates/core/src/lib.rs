//! Domain types and rules of datalab.
//!
//! This crate is the bottom of the dependency graph. It knows nothing of HTTP,
//! SQL, files or JSON wire shapes: it holds the catalog's objects, the roles
//! users play in organizations, the one permission policy every write goes
//! through, and the validation of user input (slugs, e-mails, licences,
//! municipalities).

pub mod accountability;
pub mod catalog;
pub mod cells;
pub mod inventory;
pub mod licenses;
pub mod municipalities;
pub mod policy;
pub mod quality;
pub mod validation;

pub use accountability::Bilingual;
pub use catalog::*;
pub use policy::{Action, Actor, Capacity, PolicyError};
pub use validation::{FieldError, FieldErrors, slugify, validate_slug};

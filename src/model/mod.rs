//! The pure model: state, commands, events and every rule of SPEC.md. No I/O, no clock.

pub mod agenda;
pub mod command;
pub mod decide;
pub mod error;
pub mod event;
pub mod fleet;
pub mod forecast;
pub mod pipeline;
pub mod run;
pub mod service;
pub mod state;
pub mod travel;
pub mod version;
pub mod view;

pub use agenda::{Agenda, Due};
pub use command::Command;
pub use decide::{DEFAULT_ORGANIZATION, Decision, MaintenancePlanner};
pub use error::RuleError;
pub use event::{Event, EventKind, NewEvent, SYSTEM_ACTOR, Seq, StepId};
pub use fleet::{Endpoint, Incident, IncidentId, IncidentKind, NodeChange, Stage};
pub use forecast::Forecast;
pub use run::{Run, RunId, RunPhase, RunStatus};
pub use service::{
    Endpoints, MaintenanceWindow, Node, NodeRole, NodeStatus, Plan, Service, ServiceKey,
    ServiceType,
};
pub use state::{Project, Release, State, Step, Validation};
pub use version::Version;
pub use view::{ServiceState, ServiceView, StepView};

#[cfg(test)]
mod invariant_tests;
#[cfg(test)]
mod rule_tests;
#[cfg(test)]
pub(crate) mod testkit;

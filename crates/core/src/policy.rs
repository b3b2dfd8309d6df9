//! The permission policy: the single place that decides who may do what.
//!
//! Handlers build an [`Actor`] from the request (a session or an API token) and
//! ask [`Actor::authorize`] before every read of a restricted object and every
//! write. Roles follow CKAN's meaning:
//!
//! * **member** of an organization reads its private and draft datasets;
//! * **editor** also creates, updates and deletes the organization's datasets;
//! * **admin** also edits the organization and manages its members;
//! * **sysadmin** may do everything, everywhere;
//! * anyone, signed in or not, reads active public datasets.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::catalog::State;

/// A user's role in one organization, ordered by power.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Capacity {
    Member,
    Editor,
    Admin,
}

impl Capacity {
    pub const ALL: [Capacity; 3] = [Capacity::Member, Capacity::Editor, Capacity::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Capacity::Member => "member",
            Capacity::Editor => "editor",
            Capacity::Admin => "admin",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|capacity| capacity.as_str() == text)
    }
}

/// Who is asking: an anonymous visitor or a signed-in user with their roles.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Actor {
    pub user_id: Option<Uuid>,
    pub sysadmin: bool,
    pub memberships: HashMap<Uuid, Capacity>,
}

/// Something an actor wants to do, with the facts the decision needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// See a dataset (its page, its API record, its files).
    ReadDataset {
        organization: Uuid,
        private: bool,
        state: State,
    },
    CreateDataset {
        organization: Uuid,
    },
    UpdateDataset {
        organization: Uuid,
    },
    DeleteDataset {
        organization: Uuid,
    },
    CreateOrganization,
    UpdateOrganization {
        organization: Uuid,
    },
    ManageMembers {
        organization: Uuid,
    },
    CreateGroup,
    UpdateGroup,
    /// Change an account itself (its password): its owner, or a sysadmin.
    ManageAccount {
        user: Uuid,
    },
    /// List, create or revoke the API tokens of a user.
    ManageTokens {
        user: Uuid,
    },
    /// See a user's private fields (e-mail) and tokens.
    ReadUserPrivate {
        user: Uuid,
    },
    /// Update a milestone (status, progress, dates, evidence) for which this
    /// organization is responsible: any member of it may.
    UpdateMilestone {
        organization: Uuid,
    },
    /// List, change or remove the data inventory items of an organization:
    /// its editors and admins may.
    ManageInventory {
        organization: Uuid,
    },
    /// Load commitments and milestones in bulk, or create them, and name
    /// their monitors.
    ManageCommitments,
    /// Comment on a commitment's milestones and flag evidence as
    /// insufficient: its monitors (and sysadmins) may.
    Monitor {
        assigned_monitor: bool,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// Nobody is signed in and the action needs someone.
    #[error("you must sign in to do this")]
    NotAuthenticated,
    #[error("you are not allowed to do this")]
    Forbidden,
}

impl Actor {
    pub fn anonymous() -> Self {
        Self::default()
    }

    pub fn user(user_id: Uuid, sysadmin: bool, memberships: HashMap<Uuid, Capacity>) -> Self {
        Self { user_id: Some(user_id), sysadmin, memberships }
    }

    pub fn is_authenticated(&self) -> bool {
        self.user_id.is_some()
    }

    pub fn capacity_in(&self, organization: Uuid) -> Option<Capacity> {
        self.memberships.get(&organization).copied()
    }

    fn has_at_least(&self, organization: Uuid, needed: Capacity) -> bool {
        self.sysadmin || self.capacity_in(organization).is_some_and(|capacity| capacity >= needed)
    }

    /// Organizations whose private datasets this actor may read; `None` means all.
    pub fn readable_private_organizations(&self) -> Option<Vec<Uuid>> {
        if self.sysadmin {
            return None;
        }
        Some(self.memberships.keys().copied().collect())
    }

    /// Organizations in which this actor may create datasets; `None` means all.
    pub fn editable_organizations(&self) -> Option<Vec<Uuid>> {
        if self.sysadmin {
            return None;
        }
        Some(
            self.memberships
                .iter()
                .filter(|(_, capacity)| **capacity >= Capacity::Editor)
                .map(|(organization, _)| *organization)
                .collect(),
        )
    }

    /// Allowed when any one of `actions` is (a milestone with several
    /// responsible organizations may be updated by members of each), or for
    /// sysadmins when there is none.
    pub fn authorize_any(&self, actions: &[Action]) -> Result<(), PolicyError> {
        if self.sysadmin || actions.iter().any(|action| self.can(*action)) {
            Ok(())
        } else if self.is_authenticated() {
            Err(PolicyError::Forbidden)
        } else {
            Err(PolicyError::NotAuthenticated)
        }
    }

    pub fn can(&self, action: Action) -> bool {
        self.authorize(action).is_ok()
    }

    pub fn authorize(&self, action: Action) -> Result<(), PolicyError> {
        let allowed = match action {
            Action::ReadDataset { organization, private, state } => match state {
                State::Deleted => self.sysadmin,
                State::Draft => self.has_at_least(organization, Capacity::Editor),
                State::Active => !private || self.has_at_least(organization, Capacity::Member),
            },
            Action::CreateDataset { organization }
            | Action::UpdateDataset { organization }
            | Action::DeleteDataset { organization } => self.has_at_least(organization, Capacity::Editor),
            Action::UpdateOrganization { organization } | Action::ManageMembers { organization } => {
                self.has_at_least(organization, Capacity::Admin)
            }
            Action::UpdateMilestone { organization } => self.has_at_least(organization, Capacity::Member),
            Action::ManageInventory { organization } => self.has_at_least(organization, Capacity::Editor),
            Action::Monitor { assigned_monitor } => self.sysadmin || (assigned_monitor && self.is_authenticated()),
            Action::CreateOrganization | Action::CreateGroup | Action::UpdateGroup | Action::ManageCommitments => {
                self.sysadmin
            }
            Action::ManageAccount { user } | Action::ManageTokens { user } | Action::ReadUserPrivate { user } => {
                self.sysadmin || self.user_id == Some(user)
            }
        };
        if allowed {
            Ok(())
        } else if self.is_authenticated() {
            Err(PolicyError::Forbidden)
        } else {
            Err(PolicyError::NotAuthenticated)
        }
    }
}

#[cfg(test)]
mod tests {
    //! The permission matrix: every role against every write on organization
    //! A's and organization B's objects, and private datasets for reads.
    use super::*;

    fn org_a() -> Uuid {
        Uuid::from_u128(0xA)
    }
    fn org_b() -> Uuid {
        Uuid::from_u128(0xB)
    }

    fn roles() -> Vec<(&'static str, Actor)> {
        let member_of_a = |capacity| Actor::user(Uuid::from_u128(1), false, HashMap::from([(org_a(), capacity)]));
        vec![
            ("anonymous", Actor::anonymous()),
            ("signed-in", Actor::user(Uuid::from_u128(1), false, HashMap::new())),
            ("member", member_of_a(Capacity::Member)),
            ("editor", member_of_a(Capacity::Editor)),
            ("admin", member_of_a(Capacity::Admin)),
            ("sysadmin", Actor::user(Uuid::from_u128(2), true, HashMap::new())),
        ]
    }

    /// Renders the whole matrix as text, one row per role: a `y` where allowed.
    fn matrix(actions: &[(&str, Action)]) -> String {
        let mut out = String::new();
        out.push_str(&format!("{:<10}", "role"));
        for (name, _) in actions {
            out.push_str(&format!(" {name}"));
        }
        out.push('\n');
        for (role, actor) in roles() {
            out.push_str(&format!("{role:<10}"));
            for (name, action) in actions {
                let mark = if actor.can(*action) { "y" } else { "-" };
                out.push_str(&format!(" {mark:<width$}", width = name.len()));
            }
            out.push('\n');
        }
        out
    }

    #[test]
    fn write_matrix_on_organization_a_and_b() {
        let mut actions = Vec::new();
        for (label, organization) in [("A", org_a()), ("B", org_b())] {
            let leak = |name: &str| -> &'static str { Box::leak(format!("{name}{label}").into_boxed_str()) };
            actions.push((leak("create"), Action::CreateDataset { organization }));
            actions.push((leak("update"), Action::UpdateDataset { organization }));
            actions.push((leak("delete"), Action::DeleteDataset { organization }));
            actions.push((leak("editOrg"), Action::UpdateOrganization { organization }));
            actions.push((leak("members"), Action::ManageMembers { organization }));
        }
        actions.push(("newOrg", Action::CreateOrganization));
        actions.push(("newGroup", Action::CreateGroup));
        actions.push(("milestoneA", Action::UpdateMilestone { organization: org_a() }));
        actions.push(("milestoneB", Action::UpdateMilestone { organization: org_b() }));
        let expected = "\
role       createA updateA deleteA editOrgA membersA createB updateB deleteB editOrgB membersB newOrg newGroup milestoneA milestoneB
anonymous  -       -       -       -        -        -       -       -       -        -        -      -        -          -         
signed-in  -       -       -       -        -        -       -       -       -        -        -      -        -          -         
member     -       -       -       -        -        -       -       -       -        -        -      -        y          -         
editor     y       y       y       -        -        -       -       -       -        -        -      -        y          -         
admin      y       y       y       y        y        -       -       -       -        -        -      -        y          -         
sysadmin   y       y       y       y        y        y       y       y       y        y        y      y        y          y         
";
        assert_eq!(matrix(&actions), expected);
    }

    #[test]
    fn read_matrix_for_private_draft_and_deleted_datasets() {
        let read = |organization, private, state| Action::ReadDataset { organization, private, state };
        let actions = [
            ("publicA", read(org_a(), false, State::Active)),
            ("privateA", read(org_a(), true, State::Active)),
            ("draftA", read(org_a(), false, State::Draft)),
            ("deletedA", read(org_a(), false, State::Deleted)),
            ("privateB", read(org_b(), true, State::Active)),
        ];
        let expected = "\
role       publicA privateA draftA deletedA privateB
anonymous  y       -        -      -        -       
signed-in  y       -        -      -        -       
member     y       y        -      -        -       
editor     y       y        y      -        -       
admin      y       y        y      -        -       
sysadmin   y       y        y      y        y       
";
        assert_eq!(matrix(&actions), expected);
    }

    #[test]
    fn monitors_are_named_per_commitment() {
        for (role, actor) in roles() {
            let expected = role != "anonymous";
            assert_eq!(actor.can(Action::Monitor { assigned_monitor: true }), expected, "{role} named monitor");
            assert_eq!(actor.can(Action::Monitor { assigned_monitor: false }), role == "sysadmin", "{role} not named");
            assert_eq!(actor.can(Action::ManageCommitments), role == "sysadmin", "{role} manages commitments");
        }
    }

    #[test]
    fn editors_keep_their_organization_inventory() {
        let allowed: Vec<&str> = roles()
            .into_iter()
            .filter(|(_, actor)| actor.can(Action::ManageInventory { organization: org_a() }))
            .map(|(role, _)| role)
            .collect();
        assert_eq!(allowed, vec!["editor", "admin", "sysadmin"]);
        assert!(!roles()[4].1.can(Action::ManageInventory { organization: org_b() }), "an admin of A, not of B");
    }

    #[test]
    fn tokens_belong_to_their_user_or_a_sysadmin() {
        let me = Uuid::from_u128(1);
        let someone_else = Uuid::from_u128(9);
        let actor = Actor::user(me, false, HashMap::new());
        assert!(actor.can(Action::ManageTokens { user: me }));
        assert!(actor.can(Action::ManageAccount { user: me }));
        assert_eq!(actor.authorize(Action::ManageAccount { user: someone_else }), Err(PolicyError::Forbidden));
        assert_eq!(actor.authorize(Action::ManageTokens { user: someone_else }), Err(PolicyError::Forbidden));
        assert_eq!(Actor::anonymous().authorize(Action::ManageTokens { user: me }), Err(PolicyError::NotAuthenticated));
        assert!(Actor::user(someone_else, true, HashMap::new()).can(Action::ManageTokens { user: me }));
    }
}

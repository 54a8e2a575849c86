//! Who may do what: users, roles, API tokens and grants, as the log records them.
//!
//! A store with no users is open: anyone who can reach it acts under the name they give
//! (embedded use). Once a user exists, every mutating statement is checked against the grants
//! of its actor, and reads against the grants of the session's principal. Secrets (passwords,
//! token secrets) are kept only as argon2id hashes in PHC form; verification lives here, the
//! salting hash is made where a statement runs (it needs randomness).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use argon2::password_hash::{PasswordHash, PasswordVerifier};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result, hint_known};
use crate::sql::Ident;

/// A privilege a grant gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Privilege {
    /// Query the dataset through its name, see its versions, history and exposure.
    Read,
    /// Create the dataset and register versions of it.
    Register,
    /// `PROMOTE` and `ADVANCE`.
    Promote,
    /// `ROLLBACK`.
    Rollback,
    /// `FORCE` past failing checks or stage rules (with the statement's own privilege).
    Force,
    /// Create or replace the dataset's contract.
    Contract,
    /// Everything on the scope; on all datasets also users, roles, grants, tokens, cohorts,
    /// notifications and VACUUM.
    Admin,
    /// Read as another consumer or cohort (`SET rollout.consumer`, `SET rollout.cohort`).
    Impersonate,
}

impl Privilege {
    /// Every privilege, in the order SQL lists them.
    pub const ALL: [Privilege; 8] = [
        Privilege::Read,
        Privilege::Register,
        Privilege::Promote,
        Privilege::Rollback,
        Privilege::Force,
        Privilege::Contract,
        Privilege::Admin,
        Privilege::Impersonate,
    ];

    /// The keyword (`READ`, `PROMOTE`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Privilege::Read => "READ",
            Privilege::Register => "REGISTER",
            Privilege::Promote => "PROMOTE",
            Privilege::Rollback => "ROLLBACK",
            Privilege::Force => "FORCE",
            Privilege::Contract => "CONTRACT",
            Privilege::Admin => "ADMIN",
            Privilege::Impersonate => "IMPERSONATE",
        }
    }

    /// The privilege named by `word` (case-insensitive).
    pub fn parse(word: &str) -> Option<Privilege> {
        Privilege::ALL
            .into_iter()
            .find(|p| p.as_str().eq_ignore_ascii_case(word))
    }
}

impl fmt::Display for Privilege {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a grant covers.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// Every dataset, present and future, and the store itself.
    AllDatasets,
    /// One dataset.
    Dataset(String),
}

impl Scope {
    /// Whether the scope covers `dataset` (`None`: the store as a whole).
    pub fn covers(&self, dataset: Option<&str>) -> bool {
        match self {
            Scope::AllDatasets => true,
            Scope::Dataset(d) => dataset == Some(d.as_str()),
        }
    }

    /// The scope a check of `dataset` needs at least.
    pub fn of(dataset: Option<&str>) -> Scope {
        match dataset {
            Some(d) => Scope::Dataset(d.to_string()),
            None => Scope::AllDatasets,
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scope::AllDatasets => f.write_str("ALL DATASETS"),
            Scope::Dataset(d) => write!(f, "DATASET {}", Ident(d)),
        }
    }
}

/// Who a grant is given to.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Grantee {
    /// A user, by name.
    User(String),
    /// A role, by name: every user holding the role.
    Role(String),
}

impl fmt::Display for Grantee {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Grantee::User(u) => write!(f, "{}", Ident(u)),
            Grantee::Role(r) => write!(f, "ROLE {}", Ident(r)),
        }
    }
}

/// One privilege on one scope, given to a user or a role.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Grant {
    /// Who holds it.
    pub grantee: Grantee,
    /// What it allows.
    pub privilege: Privilege,
    /// Where.
    pub scope: Scope,
}

/// A person or a service that logs in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// The login name; also the consumer their reads resolve for.
    pub name: String,
    /// The argon2id hash of the password in PHC form; `None`: logs in with tokens only.
    pub password_hash: Option<String>,
    /// The roles the user holds.
    pub roles: BTreeSet<String>,
    /// When the user was created.
    pub created_at: DateTime<Utc>,
    /// Who created the user.
    pub created_by: String,
}

/// A named set of grants that users hold together.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Role {
    /// Its name.
    pub name: String,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// Who created it.
    pub created_by: String,
}

/// An API token: a service logs in with `rollout_<id>_<secret>` and acts as `user`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiToken {
    /// The public part, shown by `SHOW TOKENS` and named by `DROP TOKEN`.
    pub id: String,
    /// The user the token acts as.
    pub user: String,
    /// The argon2id hash of the secret part, in PHC form.
    pub secret_hash: String,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// Who created it.
    pub created_by: String,
    /// After this it no longer logs in.
    pub expires_at: DateTime<Utc>,
}

/// A privilege a statement needs, on a dataset or (`None`) on the store as a whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Need {
    /// The privilege.
    pub privilege: Privilege,
    /// The dataset it is needed on; `None`: ALL DATASETS.
    pub dataset: Option<String>,
}

impl Need {
    /// `privilege` on `dataset`.
    pub fn on(privilege: Privilege, dataset: &str) -> Need {
        Need {
            privilege,
            dataset: Some(dataset.to_string()),
        }
    }

    /// `privilege` on all datasets (the store as a whole).
    pub fn everywhere(privilege: Privilege) -> Need {
        Need {
            privilege,
            dataset: None,
        }
    }
}

/// The prefix of every API token.
pub const TOKEN_PREFIX: &str = "rollout_";

/// Principals that act on their own authority, the AUTO policy a holder of PROMOTE started:
/// the controller advancing stages, the guard rolling back. No user may take these names.
pub const SYSTEM_PRINCIPALS: [&str; 2] = ["controller", "guard"];

/// Everything about principals that the log holds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Access {
    /// Users by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub users: BTreeMap<String, User>,
    /// Roles by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub roles: BTreeMap<String, Role>,
    /// Every grant.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub grants: BTreeSet<Grant>,
    /// API tokens by id.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tokens: BTreeMap<String, ApiToken>,
}

/// A PHC string no password matches, verified when a login names no user so that a wrong
/// name costs as long as a wrong password.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$1jVq9Tr5p9GzB4M2m1RQ3zW7k7tH0r8Hq4wY6cJ3n0s";

impl Access {
    /// No users: the store is open.
    pub fn is_open(&self) -> bool {
        self.users.is_empty()
    }

    /// The user named `name`.
    pub fn user(&self, name: &str) -> Result<&User> {
        self.users.get(name).ok_or_else(|| Error::UserNotFound {
            user: name.to_string(),
            hint: hint_known("users", self.users.keys()),
        })
    }

    /// The role named `name`.
    pub fn role(&self, name: &str) -> Result<&Role> {
        self.roles.get(name).ok_or_else(|| Error::RoleNotFound {
            role: name.to_string(),
            hint: hint_known("roles", self.roles.keys()),
        })
    }

    /// The grants `user` holds, directly or through a role, with the role they come through.
    pub fn grants_of<'a>(
        &'a self,
        user: &'a str,
    ) -> impl Iterator<Item = (&'a Grant, Option<&'a str>)> {
        let roles = self.users.get(user).map(|u| &u.roles);
        self.grants.iter().filter_map(move |g| match &g.grantee {
            Grantee::User(u) if u == user => Some((g, None)),
            Grantee::Role(r) if roles.is_some_and(|rs| rs.contains(r)) => {
                Some((g, Some(r.as_str())))
            }
            _ => None,
        })
    }

    /// Whether [`Access::check`] would let `actor` do `privilege` on `dataset` (an open store
    /// lets everyone), without building the refusal.
    pub fn allows(&self, actor: &str, privilege: Privilege, dataset: Option<&str>) -> bool {
        self.is_open() || self.holds(actor, privilege, dataset)
    }

    /// Whether `user` holds `privilege` on `dataset` (`None`: the store as a whole, which only
    /// grants on ALL DATASETS cover). ADMIN holds every privilege of its scope.
    pub fn holds(&self, user: &str, privilege: Privilege, dataset: Option<&str>) -> bool {
        self.grants_of(user).any(|(g, _)| {
            (g.privilege == privilege || g.privilege == Privilege::Admin) && g.scope.covers(dataset)
        })
    }

    /// Refuses unless `actor` holds `privilege` on `dataset`; always allows on an open store.
    pub fn check(&self, actor: &str, privilege: Privilege, dataset: Option<&str>) -> Result<()> {
        if self.allows(actor, privilege, dataset) {
            return Ok(());
        }
        Err(Error::PermissionDenied {
            actor: actor.to_string(),
            privilege: privilege.as_str().to_string(),
            scope: Scope::of(dataset).to_string(),
            not_a_user: !self.users.contains_key(actor),
        })
    }

    /// Refuses unless `actor` holds every one of `needs`; the error names the first missing.
    pub fn check_all(&self, actor: &str, needs: &[Need]) -> Result<()> {
        needs
            .iter()
            .try_for_each(|n| self.check(actor, n.privilege, n.dataset.as_deref()))
    }

    /// The user a password logs in as. A wrong name and a wrong password fail alike, after
    /// the same work.
    pub fn login_password(&self, user: &str, password: &str) -> Result<String> {
        let hash = self
            .users
            .get(user)
            .and_then(|u| u.password_hash.as_deref());
        let matches = verify_secret(password, hash.unwrap_or(DUMMY_HASH));
        if matches && hash.is_some() {
            Ok(user.to_string())
        } else {
            Err(Error::Unauthenticated {
                message: "wrong user name or password".into(),
            })
        }
    }

    /// The user an API token (`rollout_<id>_<secret>`) logs in as, at `now`.
    pub fn login_token(&self, token: &str, now: DateTime<Utc>) -> Result<String> {
        let refused = |message: &str| Error::Unauthenticated {
            message: message.to_string(),
        };
        let (id, secret) = split_token(token).ok_or_else(|| {
            refused("that is not a rollout API token (they look like rollout_<id>_<secret>)")
        })?;
        let stored = self.tokens.get(id);
        let matches = verify_secret(secret, stored.map_or(DUMMY_HASH, |t| &t.secret_hash));
        let Some(stored) = stored.filter(|_| matches) else {
            return Err(refused("unknown or revoked token"));
        };
        if stored.expires_at <= now {
            return Err(refused(&format!(
                "the token {} expired at {}; CREATE TOKEN FOR {} makes a new one",
                stored.id,
                stored.expires_at.format("%Y-%m-%d %H:%M:%S UTC"),
                stored.user
            )));
        }
        if !self.users.contains_key(&stored.user) {
            return Err(refused("unknown or revoked token"));
        }
        Ok(stored.user.clone())
    }
}

/// `rollout_<id>_<secret>` → (id, secret).
pub fn split_token(token: &str) -> Option<(&str, &str)> {
    let rest = token.trim().strip_prefix(TOKEN_PREFIX)?;
    let (id, secret) = rest.split_once('_')?;
    (!id.is_empty() && !secret.is_empty()).then_some((id, secret))
}

/// Whether `secret` matches the PHC hash `phc`; a malformed hash matches nothing.
pub fn verify_secret(secret: &str, phc: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(parsed) => argon2::Argon2::default()
            .verify_password(secret.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(name: &str, roles: &[&str]) -> User {
        User {
            name: name.into(),
            password_hash: None,
            roles: roles.iter().map(|r| r.to_string()).collect(),
            created_at: DateTime::<Utc>::UNIX_EPOCH,
            created_by: "test".into(),
        }
    }

    fn grant(grantee: Grantee, privilege: Privilege, scope: Scope) -> Grant {
        Grant {
            grantee,
            privilege,
            scope,
        }
    }

    #[test]
    fn an_open_store_allows_everything_and_a_closed_one_only_what_is_granted() {
        let mut access = Access::default();
        assert!(access.check("anyone", Privilege::Admin, None).is_ok());
        access
            .users
            .insert("alice".into(), user("alice", &["release"]));
        access.users.insert("bob".into(), user("bob", &[]));
        access.grants.insert(grant(
            Grantee::Role("release".into()),
            Privilege::Promote,
            Scope::Dataset("orders".into()),
        ));
        access.grants.insert(grant(
            Grantee::User("bob".into()),
            Privilege::Admin,
            Scope::Dataset("items".into()),
        ));
        assert!(access.holds("alice", Privilege::Promote, Some("orders")));
        assert!(!access.holds("alice", Privilege::Promote, Some("items")));
        assert!(!access.holds("alice", Privilege::Rollback, Some("orders")));
        // ADMIN on a dataset is every privilege there, and nothing store-wide.
        assert!(access.holds("bob", Privilege::Rollback, Some("items")));
        assert!(!access.holds("bob", Privilege::Admin, None));
        let err = access
            .check("alice", Privilege::Rollback, Some("orders"))
            .unwrap_err();
        assert_eq!(err.kind(), crate::error::ErrorKind::PermissionDenied);
        let text = err.to_string();
        assert!(text.contains("ROLLBACK ON DATASET orders"), "{text}");
        let stranger = access.check("mallory", Privilege::Read, Some("orders"));
        assert!(stranger.unwrap_err().to_string().contains("not a user"));
    }

    #[test]
    fn tokens_split_only_in_their_own_shape() {
        assert_eq!(split_token("rollout_ab12_s3cr3t"), Some(("ab12", "s3cr3t")));
        assert_eq!(split_token("rollout__s"), None);
        assert_eq!(split_token("rollout_ab12_"), None);
        assert_eq!(split_token("Bearer rollout_a_b"), None);
    }

    #[test]
    fn a_malformed_hash_matches_nothing() {
        assert!(!verify_secret("x", "not a phc string"));
        assert!(!verify_secret("x", DUMMY_HASH));
    }
}

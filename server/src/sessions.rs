//! Who is calling: logins (the Flight handshake, API tokens) and the session each one gets.
//!
//! A handshake with `authorization: Basic ...` checks the password against the store's users
//! and answers with a bearer token minted here (random, held only in memory). An API token
//! (`rollout_<id>_<secret>`, from `CREATE TOKEN`) is sent as the bearer itself and checked
//! against its argon2 hash once; after that both kinds find their session by the bearer. Each
//! bearer has its own DataFusion session (its own `SET rollout.*`), acting as its principal.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use datafusion_rollout::catalog::{TOKEN_PREFIX, split_token};
use datafusion_rollout::{RolloutContext, RolloutOptions, Store};
use tonic::Status;
use tonic::metadata::MetadataMap;

use crate::metrics::Metrics;
use crate::status::status_of;

/// Basic credentials with or without padding: ADBC's Go driver sends them unpadded.
const BASIC: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// How long a bearer minted by a handshake stays valid without use.
pub const SESSION_IDLE: Duration = Duration::from_secs(12 * 3600);

/// One caller's session.
pub struct Session {
    /// The DataFusion session, acting as the principal.
    pub ctx: RolloutContext,
    /// Who logged in (`None` on an open store).
    pub principal: Option<String>,
    /// The token a page sends with each change it makes (`x-rollout-csrf`), so that a
    /// request forged by another site, which cannot read it, is refused.
    pub csrf: String,
    /// The API token id this session came from, checked on every call so a dropped token
    /// stops at once.
    token_id: Option<String>,
    /// The token's own expiry, if any.
    expires_at: Option<chrono::DateTime<chrono::Utc>>,
    /// For a password login: the user's password hash it was checked against. When the
    /// password changes (or is removed), the session ends, as users expect of "change my
    /// password" after a leak.
    password_hash: Option<String>,
    last_used: RwLock<Instant>,
}

/// Every live session, by bearer.
pub struct Sessions {
    store: Arc<Store>,
    template: RolloutOptions,
    by_bearer: RwLock<HashMap<String, Arc<Session>>>,
    anonymous: RwLock<Option<Arc<Session>>>,
    metrics: Arc<Metrics>,
}

impl Sessions {
    /// Sessions on `store`, each opened with `template` (record_reads, config, ...); logins
    /// are counted in `metrics`.
    pub fn new(store: Arc<Store>, template: RolloutOptions, metrics: Arc<Metrics>) -> Self {
        Self {
            store,
            template,
            by_bearer: RwLock::default(),
            anonymous: RwLock::default(),
            metrics,
        }
    }

    /// The server's metrics.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// The store.
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    fn open(
        &self,
        principal: Option<String>,
        actor: Option<String>,
    ) -> Result<RolloutContext, Status> {
        let mut options = self.template.clone();
        options.server_side = true;
        options.actor = actor;
        RolloutContext::for_principal(Arc::clone(&self.store), principal, options)
            .map_err(|e| status_of(&e))
    }

    /// The handshake: `authorization: Basic base64(user:password)` → a new bearer and its
    /// session. On an open store any name is accepted (as the actor); with users the password
    /// must match, and a wrong name fails exactly like a wrong password.
    pub async fn handshake(&self, metadata: &MetadataMap) -> Result<String, Status> {
        let value = header(metadata)?.ok_or_else(|| {
            Status::unauthenticated("the handshake needs authorization: Basic <user:password>")
        })?;
        let encoded = value
            .strip_prefix("Basic ")
            .ok_or_else(|| Status::unauthenticated("the handshake needs Basic credentials"))?;
        let raw = BASIC
            .decode(encoded.trim())
            .map_err(|_| Status::unauthenticated("the Basic credentials are not base64"))?;
        let text = String::from_utf8(raw)
            .map_err(|_| Status::unauthenticated("the Basic credentials are not UTF-8"))?;
        let (user, password) = text
            .split_once(':')
            .ok_or_else(|| Status::unauthenticated("the Basic credentials have no ':'"))?;
        self.store.refresh().await.map_err(|e| status_of(&e))?;
        let state = self.store.state();
        let mut password_hash = None;
        let (principal, actor) = if state.access.is_open() {
            (None, Some(user.to_string()))
        } else {
            let (user, password) = (user.to_string(), password.to_string());
            let who = tokio::task::spawn_blocking(move || {
                let who = state.access.login_password(&user, &password)?;
                let hash = state
                    .access
                    .users
                    .get(&who)
                    .and_then(|u| u.password_hash.clone());
                Ok::<_, datafusion_rollout::Error>((who, hash))
            })
            .await
            .map_err(|e| Status::internal(format!("login: {e}")))?;
            self.metrics.login("password", who.is_ok());
            let (who, hash) = who.map_err(|e| status_of(&e))?;
            password_hash = hash;
            (Some(who.clone()), Some(who))
        };
        let ctx = self.open(principal.clone(), actor)?;
        let bearer = new_bearer();
        self.insert(
            bearer.clone(),
            Session {
                ctx,
                principal,
                csrf: new_bearer(),
                token_id: None,
                expires_at: None,
                password_hash,
                last_used: RwLock::new(Instant::now()),
            },
        );
        Ok(bearer)
    }

    /// The session of a call: by its bearer, or (on an open store only) the shared anonymous
    /// one when there is no `authorization` header.
    pub async fn session(&self, metadata: &MetadataMap) -> Result<Arc<Session>, Status> {
        let Some(value) = header(metadata)? else {
            if !self.store.state().access.is_open() {
                return Err(Status::unauthenticated(
                    "no credentials: log in with a user name and password (the Flight \
                     handshake) or send authorization: Bearer <token>",
                ));
            }
            return self.anonymous();
        };
        let bearer = value.strip_prefix("Bearer ").ok_or_else(|| {
            Status::unauthenticated("expected authorization: Bearer <token> (log in first)")
        })?;
        let bearer = bearer.trim();
        let found = self.lock_read().get(bearer).cloned();
        let session = match found {
            Some(session) => session,
            None if bearer.starts_with(TOKEN_PREFIX) => self.api_token(bearer).await?,
            None => {
                return Err(Status::unauthenticated(
                    "unknown or expired session: log in again",
                ));
            }
        };
        self.still_valid(bearer, &session)?;
        *session.last_used.write().unwrap_or_else(|p| p.into_inner()) = Instant::now();
        Ok(session)
    }

    /// Refuses a session whose user or token is gone, or whose time ran out.
    fn still_valid(&self, bearer: &str, session: &Session) -> Result<(), Status> {
        let state = self.store.state();
        let gone = |why: &str| {
            self.by_bearer
                .write()
                .unwrap_or_else(|p| p.into_inner())
                .remove(bearer);
            Err(Status::unauthenticated(why.to_string()))
        };
        if let Some(p) = &session.principal {
            let Some(user) = state.access.users.get(p) else {
                return gone("the session's user no longer exists");
            };
            if session.token_id.is_none() && user.password_hash != session.password_hash {
                return gone("the user's password changed: log in again");
            }
        }
        if let Some(id) = &session.token_id
            && !state.access.tokens.contains_key(id)
        {
            return gone("unknown or revoked token");
        }
        if session.expires_at.is_some_and(|t| t <= chrono::Utc::now()) {
            return gone("the token expired; CREATE TOKEN makes a new one");
        }
        let idle = session
            .last_used
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .elapsed();
        if session.token_id.is_none() && idle > SESSION_IDLE {
            return gone("the session expired: log in again");
        }
        Ok(())
    }

    async fn api_token(&self, bearer: &str) -> Result<Arc<Session>, Status> {
        self.store.refresh().await.map_err(|e| status_of(&e))?;
        let state = self.store.state();
        let token = bearer.to_string();
        let user = tokio::task::spawn_blocking(move || {
            state.access.login_token(&token, chrono::Utc::now())
        })
        .await
        .map_err(|e| Status::internal(format!("login: {e}")))?;
        self.metrics.login("token", user.is_ok());
        let user = user.map_err(|e| status_of(&e))?;
        let state = self.store.state();
        let id = split_token(bearer).map(|(id, _)| id.to_string());
        let expires_at = id
            .as_ref()
            .and_then(|id| state.access.tokens.get(id))
            .map(|t| t.expires_at);
        let ctx = self.open(Some(user.clone()), Some(user.clone()))?;
        let session = Session {
            ctx,
            principal: Some(user),
            csrf: new_bearer(),
            token_id: id,
            expires_at,
            password_hash: None,
            last_used: RwLock::new(Instant::now()),
        };
        Ok(self.insert(bearer.to_string(), session))
    }

    fn anonymous(&self) -> Result<Arc<Session>, Status> {
        if let Some(s) = self
            .anonymous
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
        {
            return Ok(s);
        }
        let session = Arc::new(Session {
            ctx: self.open(None, Some("anonymous".into()))?,
            principal: None,
            csrf: new_bearer(),
            token_id: None,
            expires_at: None,
            password_hash: None,
            last_used: RwLock::new(Instant::now()),
        });
        *self.anonymous.write().unwrap_or_else(|p| p.into_inner()) = Some(Arc::clone(&session));
        Ok(session)
    }

    fn insert(&self, bearer: String, session: Session) -> Arc<Session> {
        let session = Arc::new(session);
        let mut map = self.by_bearer.write().unwrap_or_else(|p| p.into_inner());
        // Forget sessions idle past their time, so the map stays bounded by live clients.
        map.retain(|_, s| {
            s.last_used
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .elapsed()
                <= SESSION_IDLE
        });
        map.insert(bearer, Arc::clone(&session));
        session
    }

    fn lock_read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, Arc<Session>>> {
        self.by_bearer.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Ends the session of `bearer` (a page's logout); an unknown bearer is no error.
    pub fn end(&self, bearer: &str) {
        self.by_bearer
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(bearer);
    }

    /// Every session (to flush their buffered events at shutdown).
    pub fn all(&self) -> Vec<Arc<Session>> {
        let mut out: Vec<Arc<Session>> = self.lock_read().values().cloned().collect();
        out.extend(
            self.anonymous
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
        );
        out
    }
}

/// The `authorization` header, if any, as text.
fn header(metadata: &MetadataMap) -> Result<Option<&str>, Status> {
    match metadata.get("authorization") {
        None => Ok(None),
        Some(v) => v
            .to_str()
            .map(Some)
            .map_err(|_| Status::unauthenticated("the authorization header is not text")),
    }
}

/// 256 random bits (two v4 UUIDs, from the OS's random source), hex.
fn new_bearer() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

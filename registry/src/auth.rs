//! API keys and the principal a request acts as.
//!
//! Tokens are 256 random bits shown once; only their SHA-256 is stored, so a
//! copy of the database does not leak usable keys.

use std::collections::BTreeSet;

use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};
use switchyard_schemas::api::Scope;
use switchyard_schemas::manifest::Visibility;

use crate::error::{RegistryError, Result};

/// Tenant of the bootstrap admin token and of single-tenant dev mode.
pub const ADMIN_TENANT: &str = "admin";
/// Tenant of every request in single-tenant dev mode.
pub const DEV_TENANT: &str = "dev";

/// Who a request acts as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub tenant: String,
    pub scopes: BTreeSet<Scope>,
    /// Identifier of the key used, for logs (never the token).
    pub key_id: String,
}

impl Principal {
    /// The principal of the bootstrap admin token or of dev mode: every scope.
    pub fn superuser(tenant: &str, key_id: &str) -> Self {
        Principal {
            tenant: tenant.to_string(),
            scopes: [Scope::Publish, Scope::Route, Scope::Admin].into(),
            key_id: key_id.to_string(),
        }
    }

    pub fn is_admin(&self) -> bool {
        self.scopes.contains(&Scope::Admin)
    }

    /// Fails unless the key carries `scope` (admin implies every scope).
    pub fn require(&self, scope: Scope) -> Result<()> {
        if self.scopes.contains(&scope) || self.is_admin() {
            Ok(())
        } else {
            Err(RegistryError::MissingScope { scope })
        }
    }

    /// Whether this principal may see something `owner` published with
    /// `visibility`. Admins audit the whole registry, so they see everything.
    pub fn can_see(&self, owner: &str, visibility: &Visibility) -> bool {
        self.is_admin() || visibility.allows(owner, &self.tenant)
    }
}

/// A new random token: `sy_` followed by 43 base64url characters.
pub fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!(
        "sy_{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}

/// A short random public identifier for a key.
pub fn new_key_id() -> String {
    let mut bytes = [0u8; 6];
    rand::rng().fill_bytes(&mut bytes);
    format!("key_{}", hex::encode(bytes))
}

/// The stored form of a token.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_unique_and_hashes_stable() {
        let a = new_token();
        let b = new_token();
        assert_ne!(a, b);
        assert!(a.starts_with("sy_") && a.len() == 46, "{a}");
        assert_eq!(token_hash(&a), token_hash(&a));
        assert_ne!(token_hash(&a), token_hash(&b));
        assert_eq!(token_hash(&a).len(), 64);
    }

    #[test]
    fn scopes_and_visibility() {
        let p = Principal {
            tenant: "acme".into(),
            scopes: [Scope::Route].into(),
            key_id: "k".into(),
        };
        assert!(p.require(Scope::Route).is_ok());
        assert!(matches!(
            p.require(Scope::Publish),
            Err(RegistryError::MissingScope {
                scope: Scope::Publish
            })
        ));
        assert!(p.can_see("acme", &Visibility::PRIVATE));
        assert!(!p.can_see("globex", &Visibility::PRIVATE));
        assert!(p.can_see("globex", &Visibility::PUBLIC));
        assert!(p.can_see("globex", &Visibility::Tenants(vec!["acme".into()])));
        assert!(!p.can_see("globex", &Visibility::Tenants(vec!["initech".into()])));
        assert!(Principal::superuser(ADMIN_TENANT, "admin").can_see("globex", &Visibility::PRIVATE));
    }
}

//! Where a group's resources live: an account (the controller's own, or one reached by
//! assuming a role) and a region. ECS throttles, and the engine batches, per target; a group's
//! identity is (account, region, cluster, name).

use spec::Account;

/// An account and region.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Target {
    /// The role assumed in another account; `None`: the controller's own account.
    pub account: Option<Account>,
    /// The AWS region.
    pub region: String,
}

impl Target {
    /// A region of the controller's own account.
    pub fn region(region: &str) -> Self {
        Target {
            account: None,
            region: region.to_owned(),
        }
    }

    /// A region of the account `account`'s role is in.
    pub fn of(account: Option<&Account>, region: &str) -> Self {
        Target {
            account: account.cloned(),
            region: region.to_owned(),
        }
    }

    /// The 12-digit id of the target account; `None` for the controller's own.
    pub fn account_id(&self) -> Option<&str> {
        self.account.as_ref().and_then(Account::id)
    }

    /// For labels and messages: the account id, or `self` for the controller's own account.
    pub fn account_label(&self) -> &str {
        self.account_id().unwrap_or("self")
    }
}

impl std::fmt::Display for Target {
    /// `eu-west-1` in the controller's own account, `111122223333/eu-west-1` in another.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.account_id() {
            Some(id) => write!(f, "{id}/{}", self.region),
            None => f.write_str(&self.region),
        }
    }
}

//! What operators do from the command line: a company with its first owner on a server
//! where sign-up is closed (`workorders tenant create`).

use std::sync::Arc;

use anyhow::Context;
use chrono::{DateTime, Utc};
use workorders_domain::auth::NewPassword;
use workorders_domain::tenant::{Slug, TimeZone, parse_display_name};
use workorders_domain::user::Email;
use workorders_persistence::{Db, DbOptions, KeyRing};

use crate::App;
use crate::accounts::{self, LinkPurpose};
use crate::config::Settings;
use crate::password::NO_PASSWORD;

/// What `workorders tenant create` asks for.
pub struct NewTenant {
    pub database_url: String,
    pub keys: Option<Arc<KeyRing>>,
    pub slug: String,
    pub name: Option<String>,
    pub time_zone: String,
    pub owner_email: String,
    pub owner_name: Option<String>,
    /// The owner's password; `None`: a one-time link is made instead.
    pub password: Option<String>,
    pub public_base_url: String,
}

/// What was made.
pub struct CreatedTenant {
    pub slug: String,
    pub owner_email: String,
    /// The link for the owner to set a password, with its expiry (without a password).
    pub link: Option<(String, DateTime<Utc>)>,
}

/// Creates the company and its owner (migrating the database first, like a server start).
pub async fn create_tenant(input: NewTenant) -> anyhow::Result<CreatedTenant> {
    let slug = Slug::parse(&input.slug).map_err(|e| anyhow::anyhow!("--slug: {e}"))?;
    let company_name = parse_display_name(input.name.as_deref().unwrap_or(&input.slug))
        .map_err(|e| anyhow::anyhow!("--name: {e}"))?;
    let time_zone =
        TimeZone::parse(&input.time_zone).map_err(|e| anyhow::anyhow!("--time-zone: {e}"))?;
    let owner_email =
        Email::parse(&input.owner_email).map_err(|e| anyhow::anyhow!("--owner-email: {e}"))?;
    let default_name = owner_email
        .as_str()
        .split('@')
        .next()
        .unwrap_or("Owner")
        .to_owned();
    let owner_name = parse_display_name(input.owner_name.as_deref().unwrap_or(&default_name))
        .map_err(|e| anyhow::anyhow!("--owner-name: {e}"))?;
    let password = input
        .password
        .as_deref()
        .map(NewPassword::parse)
        .transpose()
        .map_err(|e| anyhow::anyhow!("the password: {e}"))?;

    let mut settings = Settings::new(input.database_url.clone());
    settings.mail.public_base_url = input.public_base_url;
    settings.secret_keys = input.keys;
    settings.require_config = false;
    let db = Db::connect(&input.database_url, &DbOptions::default())
        .await
        .context("connecting to the database")?;
    let db = match &settings.secret_keys {
        Some(keys) => db.with_keys(keys.clone()),
        None => db,
    };
    db.migrate().await.context("applying database migrations")?;
    let state = App::new(db.clone(), settings)?;
    let hash = match &password {
        Some(p) => state
            .passwords
            .hash(p.expose().to_owned())
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?,
        None => NO_PASSWORD.to_owned(),
    };
    let now = db.now();
    let mut tx = db.begin_write().await?;
    let (tenant, owner) = accounts::create_tenant(
        &mut tx,
        accounts::NewTenant {
            slug,
            company_name,
            time_zone,
            owner_name,
            owner_email,
            owner_password_hash: hash,
        },
        now,
    )
    .await
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    let link = match password {
        Some(_) => None,
        None => {
            let (token, expires_at) =
                accounts::issue_link(&mut tx, &state, &owner, LinkPurpose::FirstOwner, now)
                    .await
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
            Some((accounts::set_password_url(&state, &token), expires_at))
        }
    };
    tx.commit().await?;
    db.close().await;
    Ok(CreatedTenant {
        slug: tenant.slug.to_string(),
        owner_email: owner.email.as_str().to_owned(),
        link,
    })
}

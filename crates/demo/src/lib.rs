//! The demo tenant for trying the API: slug `demo`, six users with password `demo-password`.
//! Seeding is idempotent: what exists is left alone, what is missing is added.

use workorders_domain::auth::Role;
use workorders_domain::tenant::{Slug, TimeZone};
use workorders_domain::user::{Email, HomeBase};
use workorders_domain::{TenantId, UserId};
use workorders_persistence::users::UserRecord;
use workorders_persistence::{tenants, users};

use workorders_app::App;

mod billing;
mod oversight;
mod work;

pub const DEMO_SLUG: &str = "demo";
pub const DEMO_PASSWORD: &str = "demo-password";

/// (e-mail, name, role, skills, home postal code)
type DemoUser = (
    &'static str,
    &'static str,
    Role,
    &'static [&'static str],
    Option<&'static str>,
);

const DEMO_USERS: [DemoUser; 6] = [
    ("owner@demo.example", "Olga Owner", Role::Owner, &[], None),
    (
        "dispatcher@demo.example",
        "Dora Dispatch",
        Role::Dispatcher,
        &[],
        None,
    ),
    (
        "tech1@demo.example",
        "Tim Technik",
        Role::Technician,
        &["glazing", "installation"],
        Some("10115"),
    ),
    (
        "tech2@demo.example",
        "Tara Technik",
        Role::Technician,
        &["repair", "installation"],
        Some("10247"),
    ),
    (
        "reviewer@demo.example",
        "Rolf Review",
        Role::Reviewer,
        &[],
        None,
    ),
    (
        "accountant@demo.example",
        "Anna Account",
        Role::Accountant,
        &[],
        None,
    ),
];

pub async fn seed(state: &App) -> anyhow::Result<()> {
    let now = workorders_persistence::now();
    let tenant = match tenants::find_by_slug(&state.db, DEMO_SLUG).await? {
        Some(tenant) => tenant,
        None => {
            let slug = Slug::parse(DEMO_SLUG)?;
            let mut tx = state.db.begin_write().await?;
            let tenant = tenants::insert(
                tx.conn(),
                TenantId::new(),
                &slug,
                "Demo Fensterbau GmbH",
                TimeZone::default(),
                now,
            )
            .await;
            match tenant {
                Ok(tenant) => {
                    tx.commit().await?;
                    tenant
                }
                // Another instance seeded it at the same moment.
                Err(e) if e.is_conflict("tenants_slug_key") => {
                    drop(tx);
                    tenants::find_by_slug(&state.db, DEMO_SLUG)
                        .await?
                        .ok_or_else(|| anyhow::anyhow!("demo tenant vanished"))?
                }
                Err(e) => return Err(e.into()),
            }
        }
    };
    let password_hash = state
        .passwords
        .hash(DEMO_PASSWORD.to_owned())
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut added = 0;
    for (email, name, role, skills, postal_code) in DEMO_USERS {
        let email = Email::parse(email)?;
        if users::find_for_login(&state.db, tenant.id, &email)
            .await?
            .is_some()
        {
            continue;
        }
        let user = UserRecord {
            id: UserId::new(),
            tenant_id: tenant.id,
            email,
            name: name.to_owned(),
            role,
            skills: skills.iter().map(|s| (*s).to_owned()).collect(),
            phone: None,
            home_base: postal_code.map(|p| HomeBase {
                postal_code: p.to_owned(),
                latitude: None,
                longitude: None,
            }),
            active: true,
            version: 1,
            created_at: now,
            updated_at: now,
        };
        let mut tx = state.db.begin_write().await?;
        match users::insert(tx.conn(), &user, &password_hash).await {
            Ok(_) => {
                tx.commit().await?;
                added += 1;
            }
            Err(e) if e.is_conflict("users_tenant_email_key") => {}
            Err(e) => return Err(e.into()),
        }
    }
    crate::work::seed(state, tenant.id).await?;
    tracing::info!(
        tenant = DEMO_SLUG,
        users_added = added,
        "demo data ready; password for all demo users: {DEMO_PASSWORD}"
    );
    Ok(())
}

//! Demo billing data: the window maker's billing profile, a catalogue of labour rates and
//! materials, and invoices for finished demo orders (one issued, two paid), made through the
//! same code as real ones.

use chrono::Duration;
use rust_decimal::Decimal;
use uuid::Uuid;
use workorders_domain::billing::LineInput;
use workorders_domain::invoicing::BillingProfile;
use workorders_domain::{TenantId, WorkOrderId};
use workorders_persistence::billing::{self as store, CatalogueItem};
use workorders_persistence::work_orders;

use workorders_app::App;
use workorders_app::billing::{self, DraftSpec, Payment};

/// Code, kind, name, unit, net price, VAT rate, role, skill.
type DemoItem = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    Option<&'static str>,
    Option<&'static str>,
);

fn text(s: &str) -> Option<String> {
    Some(s.to_owned())
}

/// A complete profile and the catalogue.
pub async fn seed_setup(state: &App, tenant: TenantId) -> anyhow::Result<()> {
    let now = workorders_persistence::now();
    let profile = BillingProfile {
        legal_name: text("Fensterbau Demo GmbH"),
        street: text("Werkstattweg 3"),
        postal_code: text("10997"),
        city: text("Berlin"),
        country: text("DE"),
        vat_id: text("DE123456789"),
        tax_number: text("29/123/45678"),
        contact_name: text("Anna Buchhaltung"),
        contact_phone: text("+49 30 555 0100"),
        contact_email: text("rechnung@fensterbau-demo.example"),
        iban: text("DE89 3704 0044 0532 0130 00"),
        bic: text("COBADEFFXXX"),
        bank_name: text("Commerzbank"),
        invoice_number_pattern: text("RE-{YYYY}-{SEQ:5}"),
        credit_note_number_pattern: text("GS-{YYYY}-{SEQ:5}"),
        quote_number_pattern: text("AN-{YYYY}-{SEQ:5}"),
        payment_terms_days: Some(14),
        default_vat_rate: text("19"),
        small_business: false,
        language: text("de"),
    };
    let mut tx = state.db.begin_write().await?;
    store::put_profile(tx.conn(), tenant, &profile, None, now).await?;
    let items: [DemoItem; 7] = [
        (
            "LAB-TECH",
            "labour",
            "Monteurstunde",
            "HUR",
            "68.00",
            "19",
            Some("technician"),
            None,
        ),
        (
            "LAB-GLAZ",
            "labour",
            "Glaserstunde",
            "HUR",
            "74.00",
            "19",
            None,
            Some("glazing"),
        ),
        (
            "WIN-120-140",
            "material",
            "Kunststofffenster 120 × 140 cm, 3-fach",
            "C62",
            "640.00",
            "19",
            None,
            None,
        ),
        (
            "SEAL-TAPE",
            "material",
            "Fugendichtband",
            "MTR",
            "4.50",
            "19",
            None,
            None,
        ),
        (
            "HANDLE",
            "material",
            "Fenstergriff abschließbar",
            "C62",
            "24.90",
            "19",
            None,
            None,
        ),
        (
            "DISPOSAL",
            "service",
            "Entsorgung Altfenster",
            "C62",
            "35.00",
            "19",
            None,
            None,
        ),
        (
            "TRAVEL",
            "service",
            "Anfahrtspauschale Berlin",
            "C62",
            "39.00",
            "19",
            None,
            None,
        ),
    ];
    for (code, kind, name, unit, price, vat, role, skill) in items {
        store::insert_item(
            tx.conn(),
            &CatalogueItem {
                id: Uuid::now_v7(),
                tenant_id: tenant,
                code: code.to_owned(),
                kind: kind.to_owned(),
                name: name.to_owned(),
                description: None,
                unit: unit.to_owned(),
                unit_price: price.to_owned(),
                vat_rate: vat.to_owned(),
                role: role.map(str::to_owned),
                skill: skill.map(str::to_owned),
                active: true,
                version: 1,
                created_at: now,
                updated_at: now,
            },
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

fn line(name: &str, quantity: &str, unit: &str, price: &str) -> anyhow::Result<LineInput> {
    Ok(LineInput {
        name: name.to_owned(),
        description: None,
        quantity: quantity.parse::<Decimal>()?,
        unit: unit.to_owned(),
        unit_price: price.parse::<Decimal>()?,
        vat_rate: Decimal::from(19),
    })
}

/// The lines of a small repair.
pub fn repair_lines() -> anyhow::Result<Vec<LineInput>> {
    Ok(vec![
        line("Anfahrtspauschale Berlin", "1", "C62", "39.00")?,
        line("Monteurstunde", "1.5", "HUR", "68.00")?,
        line("Fenstergriff abschließbar", "1", "C62", "24.90")?,
    ])
}

/// The lines of a window replacement.
pub fn window_lines() -> anyhow::Result<Vec<LineInput>> {
    Ok(vec![
        line(
            "Kunststofffenster 120 × 140 cm, 3-fach",
            "2",
            "C62",
            "640.00",
        )?,
        line("Glaserstunde", "6", "HUR", "74.00")?,
        line("Fugendichtband", "14", "MTR", "4.50")?,
        line("Entsorgung Altfenster", "2", "C62", "35.00")?,
    ])
}

/// Invoices a demo order (issued with its PDF and XML), and records the payment when `paid`.
pub async fn invoice_order(
    state: &App,
    tenant: TenantId,
    order: WorkOrderId,
    lines: Vec<LineInput>,
    paid: bool,
) -> anyhow::Result<()> {
    let db = &state.db;
    let record = work_orders::get(db, tenant, order)
        .await?
        .ok_or_else(|| anyhow::anyhow!("demo order vanished"))?;
    let buyer = billing::buyer_for(db, &record)
        .await
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let now = workorders_persistence::now();
    let result: workorders_app::AppResult<()> = async {
        let today = billing::today_of(db, tenant).await?;
        let mut invoice = billing::new_draft(
            &record,
            &buyer,
            DraftSpec {
                lines,
                treatment: workorders_domain::billing::TaxTreatment::Regular,
                source: "manual".to_owned(),
                delivery_date: today - Duration::days(2),
                notes: None,
            },
            now,
        )?;
        let mut tx = db.begin_write().await?;
        store::insert_invoice(tx.conn(), &invoice).await?;
        billing::issue_in(state, &mut tx, &mut invoice, None, now).await?;
        billing::after_issue(&mut tx, db, tenant, order, now).await?;
        if paid {
            let cents = invoice.grand_total;
            let reference = invoice.number.clone();
            billing::record_payment_in(
                &mut tx,
                db,
                &mut invoice,
                Payment {
                    cents,
                    paid_on: today,
                    method: Some("bank_transfer".to_owned()),
                    reference,
                    recorded_by: Some("system:demo".to_owned()),
                },
                now,
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }
    .await;
    result.map_err(|e| anyhow::anyhow!("{e:?}"))
}

/// Settles an order against its invoices (invoiced; closed when paid) right away, instead of
/// waiting for the worker.
pub async fn settle(state: &App, tenant: TenantId, order: WorkOrderId) -> anyhow::Result<()> {
    let now = workorders_persistence::now();
    let result: workorders_app::AppResult<()> = async {
        let mut tx = state.db.begin_write().await?;
        billing::settle_order(&mut tx, &state.db, tenant, order, now).await?;
        tx.commit().await?;
        Ok(())
    }
    .await;
    result.map_err(|e| anyhow::anyhow!("{e:?}"))
}

//! Seeds a busy company: 50 field staff with working hours, 5 processes of 10 steps, 200
//! customers, a bookable service through the API; then orders (10 steps and history each),
//! and 10,000 appointments over the next 14 days in bulk through SQL.

use anyhow::Context;
use chrono::{DateTime, Datelike, Duration, Utc};
use serde_json::{Value, json};
use workorders_persistence::{Backend, Db, format_instant};

pub struct Company {
    pub slug: String,
    pub tenant_id: String,
    pub owner_token: String,
    pub tech_token: String,
    pub techs: Vec<String>,
    /// (process id, published version id, step definitions as stored)
    pub processes: Vec<(String, String, Value)>,
    pub customers: Vec<(String, String, String)>,
    pub service_id: String,
}

pub enum Cell {
    Text(String),
    Int(i64),
    Null,
}

impl From<String> for Cell {
    fn from(s: String) -> Self {
        Cell::Text(s)
    }
}

impl From<&str> for Cell {
    fn from(s: &str) -> Self {
        Cell::Text(s.to_owned())
    }
}

impl From<i64> for Cell {
    fn from(n: i64) -> Self {
        Cell::Int(n)
    }
}

/// Multi-row INSERTs in chunks; `?` placeholders on SQLite (binding cost stays linear),
/// `$n` on PostgreSQL.
pub async fn insert_rows(
    db: &Db,
    table: &str,
    columns: &[&str],
    rows: Vec<Vec<Cell>>,
) -> anyhow::Result<()> {
    let per_chunk = (30_000 / columns.len()).clamp(1, 500);
    let mut rows = rows.into_iter().peekable();
    let mut tx = db.begin_write().await?;
    while rows.peek().is_some() {
        let chunk: Vec<Vec<Cell>> = rows.by_ref().take(per_chunk).collect();
        let mut n = 0;
        let groups: Vec<String> = chunk
            .iter()
            .map(|_| {
                let cells: Vec<String> = columns
                    .iter()
                    .map(|_| {
                        n += 1;
                        if db.backend() == Backend::Sqlite {
                            "?".to_owned()
                        } else {
                            format!("${n}")
                        }
                    })
                    .collect();
                format!("({})", cells.join(", "))
            })
            .collect();
        let sql = format!(
            "INSERT INTO {table} ({}) VALUES {}",
            columns.join(", "),
            groups.join(", ")
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for row in chunk {
            for cell in row {
                query = match cell {
                    Cell::Text(t) => query.bind(t),
                    Cell::Int(i) => query.bind(i),
                    Cell::Null => query.bind(Option::<String>::None),
                };
            }
        }
        query
            .execute(tx.conn())
            .await
            .with_context(|| format!("bulk insert into {table}"))?;
    }
    tx.commit().await?;
    Ok(())
}

async fn post(
    client: &reqwest::Client,
    url: String,
    token: Option<&str>,
    body: Value,
) -> anyhow::Result<Value> {
    let mut request = client.post(url).json(&body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await?;
    let status = response.status();
    let value: Value = response.json().await.unwrap_or(Value::Null);
    anyhow::ensure!(
        status.is_success(),
        "setup request failed ({status}): {value}"
    );
    Ok(value)
}

async fn sign_in(
    client: &reqwest::Client,
    base: &str,
    slug: &str,
    email: &str,
) -> anyhow::Result<String> {
    let v = post(
        client,
        format!("{base}/v1/auth/token"),
        None,
        json!({"tenant": slug, "email": email, "password": "bench-password-1"}),
    )
    .await?;
    v["access_token"]
        .as_str()
        .map(str::to_owned)
        .context("token")
}

/// Staff, processes, customers and the service, through the API.
pub async fn company(base: &str) -> anyhow::Result<Company> {
    let client = reqwest::Client::new();
    let slug = "busy-co".to_owned();
    let signup = post(&client, format!("{base}/v1/signup"), None, json!({"company_name": "Busy Fensterbau GmbH", "slug": slug,
        "owner": {"name": "Olga Owner", "email": "owner@busy.example", "password": "bench-password-1"}})).await?;
    let tenant_id = signup["tenant"]["id"]
        .as_str()
        .context("tenant id")?
        .to_owned();
    let owner = sign_in(&client, base, &slug, "owner@busy.example").await?;
    let mut techs = Vec::new();
    let day = json!([{"start": "07:00", "end": "17:00"}]);
    let hours = json!({"weekly_hours": {"monday": day, "tuesday": day, "wednesday": day, "thursday": day, "friday": day}, "travel_buffer_minutes": 0});
    for i in 0..50 {
        let user = post(&client, format!("{base}/v1/users"), Some(&owner), json!({"email": format!("tech{i}@busy.example"),
            "name": format!("Tech {i}"), "role": "technician", "password": "bench-password-1", "skills": ["installation"]})).await?;
        let id = user["id"].as_str().context("user id")?.to_owned();
        let put = client
            .put(format!("{base}/v1/users/{id}/calendar"))
            .bearer_auth(&owner)
            .header("if-match", "\"0\"")
            .json(&hours)
            .send()
            .await?;
        anyhow::ensure!(put.status().is_success(), "calendar: {}", put.status());
        techs.push(id);
    }
    let tech_token = sign_in(&client, base, &slug, "tech0@busy.example").await?;
    let mut processes = Vec::new();
    for p in 0..5 {
        let steps: Vec<Value> = (0..10)
            .map(|s| json!({"key": format!("s{s}"), "name": format!("Step {s} of process {p}"), "responsible": {"role": "technician"},
                            "target_duration_minutes": 60 * (s + 1), "checklist": [{"key": "done", "label": "Done"}]}))
            .collect();
        let created = post(
            &client,
            format!("{base}/v1/processes"),
            Some(&owner),
            json!({"name": format!("Process {p}"), "steps": steps}),
        )
        .await?;
        let id = created["id"].as_str().context("process id")?.to_owned();
        post(
            &client,
            format!("{base}/v1/processes/{id}/versions/1/publish"),
            Some(&owner),
            json!(null),
        )
        .await
        .ok();
        let version = client
            .get(format!("{base}/v1/processes/{id}/versions/1"))
            .bearer_auth(&owner)
            .send()
            .await?
            .json::<Value>()
            .await?;
        processes.push((
            id,
            version["id"].as_str().context("version id")?.to_owned(),
            version["steps"].clone(),
        ));
    }
    let mut customers = Vec::new();
    for c in 0..200 {
        let created = post(&client, format!("{base}/v1/customers"), Some(&owner), json!({"name": format!("Kunde {c} Müller"),
            "email": format!("kunde{c}@example.com"), "sites": [{"street": format!("Weg {c}"), "postal_code": "10115", "city": "Berlin"}]})).await?;
        customers.push((
            created["id"].as_str().context("customer")?.to_owned(),
            created["sites"][0]["id"]
                .as_str()
                .context("site")?
                .to_owned(),
            format!("kunde {c} müller"),
        ));
    }
    let service = post(&client, format!("{base}/v1/services"), Some(&owner), json!({"name": "Aufmaß", "process_id": processes[0].0,
        "step_key": "s1", "duration_minutes": 15, "role": "technician", "skills": ["installation"], "lead_time_minutes": 0,
        "horizon_days": 14, "granularity_minutes": 15})).await?;
    Ok(Company {
        slug,
        tenant_id,
        owner_token: owner,
        tech_token,
        techs,
        processes,
        customers,
        service_id: service["id"].as_str().context("service")?.to_owned(),
    })
}

/// Orders as the server would have created them: 10 steps (the first active with a
/// technician), one history entry, the participant row; the number sequence continues.
pub async fn orders(db: &Db, c: &Company, count: usize) -> anyhow::Result<Vec<String>> {
    let now = Utc::now();
    let year = now.year();
    let mut ids = Vec::with_capacity(count);
    let batch = 20_000;
    for start in (0..count).step_by(batch) {
        let end = (start + batch).min(count);
        let (mut orders, mut steps, mut events, mut participants) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for i in start..end {
            let id = uuid::Uuid::now_v7().to_string();
            let (process, version, definitions) = &c.processes[i % c.processes.len()];
            let (customer, site, customer_name) = &c.customers[i % c.customers.len()];
            let tech = &c.techs[i % c.techs.len()];
            let created = format_instant(now - Duration::seconds((count - i) as i64));
            let number = format!("WO-{year}-{:05}", i + 1);
            let title = format!("Fenster {i} bei {customer_name}");
            orders.push(vec![
                id.clone().into(),
                c.tenant_id.as_str().into(),
                number.clone().into(),
                process.as_str().into(),
                version.as_str().into(),
                customer.as_str().into(),
                site.as_str().into(),
                "api".into(),
                title.clone().into(),
                Cell::Null,
                "normal".into(),
                if i % 3 == 0 { "in_progress" } else { "open" }.into(),
                0i64.into(),
                format!("{number} {title}").to_lowercase().into(),
                "system".into(),
                1i64.into(),
                created.clone().into(),
                created.clone().into(),
            ]);
            for (position, definition) in definitions.as_array().into_iter().flatten().enumerate() {
                let stored = json!({"key": definition["key"], "name": definition["name"], "description": null,
                    "responsible": {"kind": "role", "role": "technician", "skills": []}, "handling": "manual",
                    "target_duration_minutes": definition["target_duration_minutes"], "checklist": [{"key": "done", "label": "Done", "required": true}],
                    "evidence": [], "skippable": false, "parallel_group": null});
                let active = position == 0;
                steps.push(vec![
                    uuid::Uuid::now_v7().to_string().into(),
                    c.tenant_id.as_str().into(),
                    id.clone().into(),
                    (position as i64).into(),
                    (position as i64).into(),
                    definition["key"].as_str().unwrap_or("s").into(),
                    stored.to_string().into(),
                    if active { "active" } else { "pending" }.into(),
                    if active {
                        Cell::Text(tech.clone())
                    } else {
                        Cell::Null
                    },
                    "[]".into(),
                    "[]".into(),
                    0i64.into(),
                    if active {
                        Cell::Text(created.clone())
                    } else {
                        Cell::Null
                    },
                    if active {
                        Cell::Text(format_instant(now + Duration::minutes((i % 5000) as i64)))
                    } else {
                        Cell::Null
                    },
                ]);
            }
            events.push(vec![
                uuid::Uuid::now_v7().to_string().into(),
                c.tenant_id.as_str().into(),
                id.clone().into(),
                1i64.into(),
                uuid::Uuid::now_v7().to_string().into(),
                "work_order.created".into(),
                "system".into(),
                created.clone().into(),
                json!({"number": number, "channel": "api"})
                    .to_string()
                    .into(),
            ]);
            participants.push(vec![id.clone().into(), tech.as_str().into()]);
            ids.push(id);
        }
        insert_rows(
            db,
            "work_orders",
            &[
                "id",
                "tenant_id",
                "number",
                "process_id",
                "process_version_id",
                "customer_id",
                "site_id",
                "channel",
                "title",
                "description",
                "priority",
                "status",
                "needs_attention",
                "search_text",
                "created_by_type",
                "version",
                "created_at",
                "updated_at",
            ],
            orders,
        )
        .await?;
        insert_rows(
            db,
            "work_order_steps",
            &[
                "id",
                "tenant_id",
                "work_order_id",
                "position",
                "stage",
                "key",
                "definition",
                "status",
                "responsible_id",
                "checked",
                "evidence",
                "rework_count",
                "activated_at",
                "due_at",
            ],
            steps,
        )
        .await?;
        insert_rows(
            db,
            "work_order_events",
            &[
                "id",
                "tenant_id",
                "work_order_id",
                "seq",
                "command_id",
                "type",
                "actor_type",
                "at",
                "data",
            ],
            events,
        )
        .await?;
        insert_rows(
            db,
            "work_order_participants",
            &["work_order_id", "user_id"],
            participants,
        )
        .await?;
    }
    sqlx::query("UPDATE number_sequences SET last_value = $1 WHERE tenant_id = $2 AND name = 'work_order' AND year = $3")
        .bind(count as i64)
        .bind(&c.tenant_id)
        .bind(i64::from(year))
        .execute(db.pool())
        .await?;
    // The per-person open-step counters the server keeps, for the seeded orders.
    sqlx::query("DELETE FROM user_open_steps WHERE tenant_id = $1")
        .bind(&c.tenant_id)
        .execute(db.pool())
        .await?;
    sqlx::query(
        "INSERT INTO user_open_steps (tenant_id, user_id, open_steps) SELECT s.tenant_id, s.responsible_id, COUNT(*) \
         FROM work_order_steps s JOIN work_orders o ON o.id = s.work_order_id WHERE s.tenant_id = $1 \
         AND s.status IN ('active', 'in_progress') AND o.status IN ('open', 'in_progress') AND s.responsible_id IS NOT NULL \
         GROUP BY s.tenant_id, s.responsible_id",
    )
    .bind(&c.tenant_id)
    .execute(db.pool())
    .await?;
    sqlx::query("INSERT INTO number_sequences (tenant_id, name, year, last_value) VALUES ($1, 'work_order', $2, $3) ON CONFLICT (tenant_id, name, year) DO NOTHING")
        .bind(&c.tenant_id)
        .bind(i64::from(year))
        .bind(count as i64)
        .execute(db.pool())
        .await?;
    Ok(ids)
}

/// 10,000 appointments of 15 minutes over the next 14 days, 200 per person, in the mornings
/// and afternoons of working days (Europe/Berlin).
pub async fn appointments(db: &Db, c: &Company, order_ids: &[String]) -> anyhow::Result<()> {
    let tz = chrono_tz::Europe::Berlin;
    let today = Utc::now().with_timezone(&tz).date_naive();
    let days: Vec<_> = (1..=20)
        .map(|d| today + Duration::days(d))
        .filter(|d| d.weekday().number_from_monday() <= 5)
        .take(10)
        .collect();
    let (mut appointments, mut assignees) = (Vec::new(), Vec::new());
    let now = format_instant(Utc::now());
    for (p, tech) in c.techs.iter().enumerate() {
        for k in 0..200 {
            let day = days[k % days.len()];
            let slot = (k / days.len()) as i64;
            let start: DateTime<Utc> = workorders_domain::calendar::local_instant(tz, day, 7 * 60)
                .0
                + Duration::minutes(slot * 30);
            let end = start + Duration::minutes(15);
            let id = uuid::Uuid::now_v7().to_string();
            let order = &order_ids[(p * 200 + k) % order_ids.len()];
            appointments.push(vec![
                id.clone().into(),
                c.tenant_id.as_str().into(),
                order.as_str().into(),
                format_instant(start).into(),
                format_instant(end).into(),
                "scheduled".into(),
                0i64.into(),
                1i64.into(),
                now.clone().into(),
                now.clone().into(),
            ]);
            assignees.push(vec![
                id.into(),
                tech.as_str().into(),
                c.tenant_id.as_str().into(),
                format_instant(start).into(),
                format_instant(end).into(),
                1i64.into(),
            ]);
        }
    }
    insert_rows(
        db,
        "appointments",
        &[
            "id",
            "tenant_id",
            "work_order_id",
            "start_at",
            "end_at",
            "status",
            "sequence",
            "version",
            "created_at",
            "updated_at",
        ],
        appointments,
    )
    .await?;
    insert_rows(
        db,
        "appointment_assignees",
        &[
            "appointment_id",
            "user_id",
            "tenant_id",
            "start_at",
            "end_at",
            "blocking",
        ],
        assignees,
    )
    .await?;
    Ok(())
}

/// A complete billing profile for the tenant (invoices can be issued), and one labour rate
/// in the catalogue, through the API.
pub async fn billing(base: &str, c: &Company) -> anyhow::Result<()> {
    let client = reqwest::Client::new();
    let profile = json!({"legal_name": "Busy Fensterbau GmbH", "street": "Hauptstraße 1", "postal_code": "10115",
        "city": "Berlin", "country": "DE", "vat_id": "DE123456789", "contact_name": "Olga Owner",
        "contact_phone": "+49 30 1234567", "contact_email": "buchhaltung@busy.example",
        "iban": "DE89370400440532013000", "bic": "COBADEFFXXX", "payment_terms_days": 14});
    let response = client
        .put(format!("{base}/v1/billing-profile"))
        .header("if-match", "\"0\"")
        .bearer_auth(&c.owner_token)
        .json(&profile)
        .send()
        .await?;
    let status = response.status();
    let view: Value = response.json().await.unwrap_or(Value::Null);
    anyhow::ensure!(
        status.is_success() && view["complete"] == json!(true),
        "billing profile ({status}): {view}"
    );
    post(&client, format!("{base}/v1/catalogue-items"), Some(&c.owner_token), json!({"code": "MONTAGE", "kind": "labour",
        "name": "Montage", "unit": "HUR", "unit_price": "65.00", "vat_rate": "19", "role": "technician"})).await?;
    Ok(())
}

/// The body of every invoice the bench issues: 2 h × 65.00 at 19 % = 154.70.
pub fn invoice_body() -> Value {
    json!({"lines": [{"name": "Montage", "quantity": "2", "unit": "HUR", "unit_price": "65.00", "vat_rate": "19"}], "issue": true})
}

pub const INVOICE_TOTAL: &str = "154.70";

/// Splits an invoice number into its prefix, sequence and the sequence's width
/// (`RE-2026-00042` → `("RE-2026-", 42, 5)`).
pub fn split_number(number: &str) -> Option<(&str, u64, usize)> {
    let digits = number.len() - number.trim_end_matches(|c: char| c.is_ascii_digit()).len();
    if digits == 0 {
        return None;
    }
    let (prefix, seq) = number.split_at(number.len() - digits);
    Some((prefix, seq.parse().ok()?, digits))
}

/// Issued invoices already in the database before the run.
pub struct SeededInvoices {
    /// Ids of the issued (unpaid) invoices, the API-issued template first.
    pub ids: Vec<String>,
    pub seconds: f64,
}

/// `count` issued invoices on the first half of the orders: one issued through the API (a
/// real number, XML and PDF), then copies of it in bulk through SQL with the following
/// numbers of the series, and the series' counter set past them (so the run's issues
/// continue without a gap). The copies share the template's XML and PDF.
pub async fn invoices(
    db: &Db,
    base: &str,
    c: &Company,
    order_ids: &[String],
    count: usize,
) -> anyhow::Result<SeededInvoices> {
    let started = std::time::Instant::now();
    let client = reqwest::Client::new();
    let template = post(
        &client,
        format!("{base}/v1/work-orders/{}/invoices", order_ids[0]),
        Some(&c.owner_token),
        invoice_body(),
    )
    .await?;
    let template_id = template["id"].as_str().context("invoice id")?.to_owned();
    let number = template["number"].as_str().context("invoice number")?;
    let (prefix, first, width) = split_number(number).context("invoice number format")?;
    anyhow::ensure!(first == 1, "the first invoice got number {number}");
    let half = (order_ids.len() / 2).max(1);
    let mut ids = vec![template_id.clone()];
    let mut tx = db.begin_write().await?;
    for k in 1..count {
        let id = uuid::Uuid::now_v7().to_string();
        let order = k % half;
        let at = format_instant(Utc::now());
        sqlx::query(
            "INSERT INTO invoices (id, work_order_id, customer_id, number, created_at, updated_at, issued_at, \
             tenant_id, kind, status, source, treatment, currency, issue_date, due_date, delivery_date, \
             buyer_reference, notes, buyer, seller, lines, computed, grand_total, paid_total, corrects_id, \
             credited_by_id, cii_xml, xrechnung_xml, pdf_key, pdf_sha256, version, sent_at, paid_at, cancelled_at) \
             SELECT $1, $2, $3, $4, $5, $5, $5, \
             tenant_id, kind, status, source, treatment, currency, issue_date, due_date, delivery_date, \
             buyer_reference, notes, buyer, seller, lines, computed, grand_total, paid_total, corrects_id, \
             credited_by_id, cii_xml, xrechnung_xml, pdf_key, pdf_sha256, version, sent_at, paid_at, cancelled_at \
             FROM invoices WHERE id = $6",
        )
        .bind(&id)
        .bind(&order_ids[order])
        .bind(&c.customers[order % c.customers.len()].0)
        .bind(format!("{prefix}{:0width$}", k as u64 + 1))
        .bind(at)
        .bind(&template_id)
        .execute(tx.conn())
        .await
        .context("copying the template invoice")?;
        ids.push(id);
    }
    tx.commit().await?;
    sqlx::query(
        "UPDATE number_sequences SET last_value = $1 WHERE tenant_id = $2 AND name = 'invoice'",
    )
    .bind(count as i64)
    .bind(&c.tenant_id)
    .execute(db.pool())
    .await?;
    Ok(SeededInvoices {
        ids,
        seconds: started.elapsed().as_secs_f64(),
    })
}

//! Live handoff (转人工): a handoff outcome of the assistant becomes a place in a queue that
//! service-centre agents work through — when the service is open and somebody is on duty —
//! or a callback offer (the citizen leaves a phone number and a short message). While an
//! agent has the conversation, what the citizen types goes to the agent. Everything lives in
//! the database, so every node sees every message; the citizen's phone number is sealed like
//! scans and shown masked.
//!
//! **Invariant:** no HTTP. Every staff view and action is written to the access log here.

pub mod hours;

use crate::account::{Principal, Role};
use crate::answer::{Citation, Reply};
use crate::config::HandoffConfig;
use crate::metrics::Metrics;
use crate::privacy::redact;
use crate::store::Store;
use crate::store::access_log::Access;
use crate::store::handoffs::{CallbackRow, HandoffRow, LineRow, NewLine, now_ms};
use crate::store::seal::{Keyring, Sealer};
use anyhow::{Context, Result};
use chrono::{FixedOffset, NaiveDateTime};
use hours::{Calendar, Hours, describe_time};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::sync::Arc;
use utoipa::ToSchema;

/// Roles that take conversations and work through callbacks.
pub const AGENT_ROLES: &[Role] = &[Role::Agent, Role::Supervisor];

/// Seconds a place in the queue is reckoned at when no handoff has been claimed yet.
const DEFAULT_WAIT_PER_PLACE_S: i64 = 60;
/// Longest message an agent or a citizen sends in a live conversation.
pub const MAX_TEXT: usize = 1000;
/// Longest note left with a callback request.
pub const MAX_NOTE: usize = 200;

/// Where a handoff stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum HandoffState {
    /// In the queue for an agent.
    Waiting,
    /// An agent has the conversation.
    Active,
    /// Nobody could take it (out of hours, nobody on duty, queue full): a callback was
    /// offered.
    Callback,
    Closed,
}

impl HandoffState {
    pub fn as_str(self) -> &'static str {
        match self {
            HandoffState::Waiting => "waiting",
            HandoffState::Active => "active",
            HandoffState::Callback => "callback",
            HandoffState::Closed => "closed",
        }
    }
    pub fn parse(s: &str) -> Option<HandoffState> {
        [
            HandoffState::Waiting,
            HandoffState::Active,
            HandoffState::Callback,
            HandoffState::Closed,
        ]
        .into_iter()
        .find(|x| x.as_str() == s)
    }
}

/// How a handoff ended. Agents choose among the first four; the last two are the citizen's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Resolution {
    Answered,
    CallbackNeeded,
    Referred,
    NoResponse,
    /// The citizen left the queue before an agent took the conversation.
    Abandoned,
    /// The citizen ended a conversation an agent had.
    CitizenLeft,
}

impl Resolution {
    pub const FOR_AGENTS: [Resolution; 4] = [
        Resolution::Answered,
        Resolution::CallbackNeeded,
        Resolution::Referred,
        Resolution::NoResponse,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            Resolution::Answered => "answered",
            Resolution::CallbackNeeded => "callback_needed",
            Resolution::Referred => "referred",
            Resolution::NoResponse => "no_response",
            Resolution::Abandoned => "abandoned",
            Resolution::CitizenLeft => "citizen_left",
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            Resolution::Answered => "已解答",
            Resolution::CallbackNeeded => "需要回电",
            Resolution::Referred => "已转办",
            Resolution::NoResponse => "群众未回应",
            Resolution::Abandoned => "群众放弃排队",
            Resolution::CitizenLeft => "群众结束对话",
        }
    }
    pub fn parse_for_agents(s: &str) -> Option<Resolution> {
        Resolution::FOR_AGENTS.into_iter().find(|r| r.as_str() == s)
    }
}

/// Where a callback ticket stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CallbackStatus {
    New,
    Contacted,
    Closed,
}

impl CallbackStatus {
    pub const ALL: [CallbackStatus; 3] = [
        CallbackStatus::New,
        CallbackStatus::Contacted,
        CallbackStatus::Closed,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            CallbackStatus::New => "new",
            CallbackStatus::Contacted => "contacted",
            CallbackStatus::Closed => "closed",
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            CallbackStatus::New => "待回电",
            CallbackStatus::Contacted => "已联系",
            CallbackStatus::Closed => "已办结",
        }
    }
    pub fn parse(s: &str) -> Option<CallbackStatus> {
        CallbackStatus::ALL.into_iter().find(|x| x.as_str() == s)
    }
}

/// Who wrote a line of a conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Sender {
    Citizen,
    Assistant,
    Agent,
}

impl Sender {
    fn as_str(self) -> &'static str {
        match self {
            Sender::Citizen => "citizen",
            Sender::Assistant => "assistant",
            Sender::Agent => "agent",
        }
    }
    fn parse(s: &str) -> Sender {
        match s {
            "citizen" => Sender::Citizen,
            "agent" => Sender::Agent,
            _ => Sender::Assistant,
        }
    }
}

/// A phone number to call back: a mobile number (11 digits, 1[3-9]…) or a landline with
/// its area code (0…, 10–12 digits). Debug and Display show the masked form.
#[derive(Clone, PartialEq, Eq)]
pub struct PhoneNumber(String);

impl PhoneNumber {
    /// Spaces, dashes and brackets are dropped; full-width digits read as digits.
    pub fn parse(s: &str) -> Option<PhoneNumber> {
        let digits: String = crate::text::normalise_width(s)
            .chars()
            .filter(|c| !matches!(c, ' ' | '-' | '(' | ')' | '（' | '）'))
            .collect();
        if !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let b = digits.as_bytes();
        let mobile = b.len() == 11 && b[0] == b'1' && (b'3'..=b'9').contains(&b[1]);
        let landline = (10..=12).contains(&b.len()) && b[0] == b'0' && b[1] != b'0';
        (mobile || landline).then_some(PhoneNumber(digits))
    }

    /// 138****5678; landlines keep the area code's first three digits and the last four.
    pub fn masked(&self) -> String {
        let n = self.0.len();
        format!("{}{}{}", &self.0[..3], "*".repeat(n - 7), &self.0[n - 4..])
    }

    /// The whole number: every use is a deliberate one (sealing, a logged reveal, export).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PhoneNumber({})", self.masked())
    }
}

impl fmt::Display for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

/// A handoff as the citizen and the agents see its state.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct HandoffStatus {
    pub id: String,
    pub state: HandoffState,
    /// Place in the queue (1 = next) while waiting.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub position: Option<i64>,
    /// Seconds the citizen is likely to wait, while waiting.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub estimated_wait_s: Option<i64>,
    /// The agent who has the conversation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resolution: Option<Resolution>,
    /// The callback ticket left by the citizen, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub callback: Option<CallbackStatus>,
}

/// A line of a conversation as handed out.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Line {
    /// Number of the line in its conversation (1, 2, …): `?after=` takes it.
    pub id: i64,
    pub from: Sender,
    pub text: String,
    /// RFC 3339.
    pub at: String,
    /// The agent's name on an agent's line.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    /// The documents an assistant's answer rests on.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub citations: Vec<Citation>,
}

/// A handoff in a staff list.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct HandoffSummary {
    pub id: String,
    pub state: HandoffState,
    /// Why it was handed off (`human`, `case_status`, …).
    pub reason: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    /// RFC 3339.
    pub queued_at: String,
    /// Seconds since queueing (for a closed handoff: until closing).
    pub waited_s: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub position: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resolution: Option<Resolution>,
    /// The citizen's last line (personal numbers masked).
    pub last_line: String,
}

/// A handoff with its conversation, for the agent who works on it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct HandoffDetail {
    #[serde(flatten)]
    pub summary: HandoffSummary,
    /// The conversation so far; personal numbers masked.
    pub transcript: Vec<Line>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub callback: Option<CallbackView>,
}

/// A callback ticket; the phone number masked.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CallbackView {
    pub id: String,
    pub handoff_id: String,
    pub status: CallbackStatus,
    /// 138****5678.
    pub phone: String,
    /// The citizen's note (personal numbers masked).
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub handled_by: Option<String>,
    /// RFC 3339.
    pub created_at: String,
    pub updated_at: String,
}

/// An open ticket as exported to a 12345 work-order system: the full number, since calling
/// back is the ticket's purpose.
#[derive(Debug, Clone, Serialize)]
pub struct ExportedTicket {
    pub id: String,
    pub created_at: String,
    pub status: String,
    pub phone: String,
    pub message: String,
    pub reason: String,
    pub session_id: String,
}

/// What the assistant tells the citizen when a handoff is asked for.
pub struct Offer {
    pub status: HandoffStatus,
    pub text: String,
}

#[derive(Debug, thiserror::Error)]
pub enum HandoffError {
    #[error("没有这个转人工记录。")]
    NotFound,
    #[error("这位群众已由其他工作人员接待。")]
    Taken,
    #[error("这个对话不在进行中（{0}），不能执行这个操作。")]
    NotActive(&'static str),
    #[error("这个对话由其他工作人员接待，请先由其转交给您。")]
    NotYours,
    #[error("没有可以接收转交的账号“{0}”（须为启用的人工客服或主管账号）。")]
    UnknownAgent(String),
    #[error("消息不能为空。")]
    EmptyText,
    #[error("消息太长了，请控制在{0}字以内。")]
    TooLong(usize),
    #[error("处理结果应为 answered、callback_needed、referred 或 no_response。")]
    BadResolution,
    #[error("请填写正确的电话号码：11位手机号，或带区号的固定电话。")]
    BadPhone,
    #[error("这个对话目前不能登记回电：只有在人工服务无法接入、或工作人员说明需要回电时才能登记。")]
    NoCallbackOffered,
    #[error("没有这张回电工单。")]
    NoSuchCallback,
    #[error("回电工单状态应为 new、contacted 或 closed。")]
    BadStatus,
    #[error("加密的电话号码无法解开（密钥不符）。")]
    Sealed,
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

/// Handoffs, conversation lines and callback tickets over the store.
pub struct Handoffs {
    store: Store,
    config: HandoffConfig,
    calendar: Calendar,
    offset: FixedOffset,
    sealer: Sealer,
    metrics: Arc<Metrics>,
    /// Conversations changed by this node (a session id, or [`EVERYONE`] when places in the
    /// queue moved): wakes this node's event streams at once; other nodes' changes reach
    /// them by polling.
    changed: tokio::sync::broadcast::Sender<String>,
}

/// What [`Handoffs::subscribe`] receives when every waiting citizen's place may have moved.
pub const EVERYONE: &str = "*";

fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// The associated data binding a sealed phone number to its ticket.
pub fn callback_aad(ticket: &str) -> Vec<u8> {
    format!("xiaoban:callback:{ticket}:phone").into_bytes()
}

/// Checks and masks a message typed in a live conversation: not white space alone, at most
/// `max` characters as sent (as the OpenAPI document says).
fn clean_text(text: &str, max: usize) -> Result<String, HandoffError> {
    let t = text.trim();
    if t.is_empty() {
        return Err(HandoffError::EmptyText);
    }
    if text.chars().count() > max {
        return Err(HandoffError::TooLong(max));
    }
    Ok(redact(t).text)
}

impl Handoffs {
    /// Reads the calendar (`WorkingDays::from_config`).
    pub fn new(
        store: Store,
        config: HandoffConfig,
        keys: Keyring,
        cipher: crate::config::ScanCipher,
        metrics: Arc<Metrics>,
    ) -> Result<Handoffs> {
        let hours::WorkingDays { calendar, offset } = hours::WorkingDays::from_config(&config)?;
        let handoffs = Handoffs {
            store,
            config,
            calendar,
            offset,
            sealer: Sealer::new(keys, cipher),
            metrics,
            changed: tokio::sync::broadcast::channel(1024).0,
        };
        let today = handoffs.local_now().date();
        if !handoffs.calendar.covers(chrono::Datelike::year(&today)) {
            tracing::warn!(
                calendar = %handoffs.config.calendar.display(),
                "the working-day calendar lacks this year's holiday notice: add it (docs/operations.md)"
            );
        }
        Ok(handoffs)
    }

    /// Changes made on this node, for event streams (see [`EVERYONE`]).
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<String> {
        self.changed.subscribe()
    }

    /// Wakes this node's event streams for what other nodes (and this one) wrote since
    /// `since` (ms), looking back a second more for writes committed late or stamped by a
    /// clock slightly behind; returns the time to look from next.
    pub async fn wake_changed(&self, since: i64) -> Result<i64> {
        let now = now_ms();
        let (lines, handoffs) = self.store.changed_since(since - 1000).await?;
        for s in &lines {
            self.touched(s);
        }
        for s in &handoffs {
            self.touched(s);
        }
        if !handoffs.is_empty() {
            // A claim, a close or a newcomer moves places in the queue.
            self.touched(EVERYONE);
        }
        Ok(now)
    }

    fn touched(&self, session: &str) {
        let _ = self.changed.send(session.to_string());
    }

    /// The conversation's last line number and its latest handoff as stored: what an event
    /// stream compares between two looks.
    pub async fn fingerprint(&self, session: &str) -> Result<(i64, Option<HandoffRow>)> {
        Ok((
            self.store.last_line(session).await?,
            self.store.latest_handoff(session).await?,
        ))
    }

    pub async fn position(&self, h: &HandoffRow) -> Result<i64> {
        self.store.queue_position(h).await
    }

    /// Lines after `after` without noting the citizen's presence.
    pub async fn lines_after(&self, session: &str, after: i64) -> Result<Vec<Line>> {
        Ok(self
            .store
            .lines(session, after, 200)
            .await?
            .into_iter()
            .map(line_of)
            .collect())
    }

    /// Notes that the citizen is still there (an open event stream).
    pub async fn seen(&self, h: &HandoffRow) -> Result<()> {
        self.store.citizen_seen(&h.id).await
    }

    pub fn calendar(&self) -> &Calendar {
        &self.calendar
    }

    pub fn hours(&self) -> Hours {
        self.config.hours
    }

    pub fn local_now(&self) -> NaiveDateTime {
        chrono::Utc::now().with_timezone(&self.offset).naive_local()
    }

    /// The calendar and time zone the service counts on.
    pub fn working_days(&self) -> hours::WorkingDays {
        hours::WorkingDays {
            calendar: self.calendar.clone(),
            offset: self.offset,
        }
    }

    /// Whether people answer now.
    pub fn open_now(&self) -> bool {
        self.config.hours.open_at(&self.calendar, self.local_now())
    }

    /// Whether the calendar has this year's notice.
    pub fn calendar_covers_today(&self) -> bool {
        self.calendar
            .covers(chrono::Datelike::year(&self.local_now().date()))
    }

    /// What the agent console shows of the live handoffs (`None`) or of one handoff, as a
    /// short hash that changes when the page would: the console's live updates compare it
    /// between looks. Not logged (the page fetched again on a change is). A handoff that
    /// does not exist is `NotFound`.
    pub async fn console_fingerprint(&self, id: Option<&str>) -> Result<String, HandoffError> {
        use sha2::{Digest, Sha256};
        let seen = self.store.console_fingerprint(id).await?;
        if id.is_some() && seen.is_empty() {
            return Err(HandoffError::NotFound);
        }
        let digest = Sha256::digest(seen.as_bytes());
        Ok(digest[..12].iter().map(|b| format!("{b:02x}")).collect())
    }

    /// The conversation a handoff belongs to.
    pub async fn session_of(&self, id: &str) -> Result<String, HandoffError> {
        Ok(self.row(id).await?.session_id)
    }

    /// Agents and supervisors a conversation may be passed to.
    pub async fn staff(&self) -> Result<Vec<String>> {
        self.store.conversation_staff().await
    }

    pub async fn agents_on_duty(&self) -> Result<Vec<String>> {
        self.store.agents_on_duty().await
    }

    /// Citizens waiting now (all nodes); also sets the gauge.
    pub async fn waiting(&self) -> Result<i64> {
        let n = self.store.count_handoffs("waiting").await?;
        self.metrics.handoff_waiting.set(n);
        Ok(n)
    }

    /// The conversation's handoff that an agent has or will take (waiting or active).
    pub async fn live(&self, session: &str) -> Result<Option<HandoffRow>> {
        Ok(self
            .store
            .latest_handoff(session)
            .await?
            .filter(|h| h.state == "waiting" || h.state == "active"))
    }

    pub async fn latest(&self, session: &str) -> Result<Option<HandoffStatus>> {
        match self.store.latest_handoff(session).await? {
            Some(h) => Ok(Some(self.status(&h).await?)),
            None => Ok(None),
        }
    }

    /// The state of a handoff as the citizen sees it.
    pub async fn status(&self, h: &HandoffRow) -> Result<HandoffStatus> {
        let state = HandoffState::parse(&h.state).context("unknown handoff state")?;
        let (position, estimated_wait_s) = if state == HandoffState::Waiting {
            let p = self.store.queue_position(h).await?;
            (Some(p), Some(self.estimate(p).await?))
        } else {
            (None, None)
        };
        let callback = match state {
            HandoffState::Callback | HandoffState::Closed => self
                .store
                .callback_of_handoff(&h.id)
                .await?
                .and_then(|c| CallbackStatus::parse(&c.status)),
            _ => None,
        };
        Ok(HandoffStatus {
            id: h.id.clone(),
            state,
            position,
            estimated_wait_s,
            agent: h.agent.clone(),
            resolution: h.resolution.as_deref().and_then(resolution_of),
            callback,
        })
    }

    /// Seconds until place `position` is likely taken: the places ahead shared among the
    /// agents on duty, each at the recent mean wait until a claim.
    async fn estimate(&self, position: i64) -> Result<i64> {
        let per_place = self
            .store
            .mean_claim_wait_ms()
            .await?
            .map_or(DEFAULT_WAIT_PER_PLACE_S, |ms| (ms / 1000).max(10));
        let agents = (self.store.agents_on_duty().await?.len() as i64).max(1);
        Ok((position + agents - 1) / agents * per_place)
    }

    /// A handoff for the conversation: a place in the queue when the service is open, an
    /// agent is on duty and the queue has room; otherwise a callback offer. A conversation
    /// already waiting or with an agent keeps its handoff.
    pub async fn offer(&self, session: &str, reason: &str) -> Result<Offer> {
        if let Some(h) = self.live(session).await? {
            let status = self.status(&h).await?;
            let text = waiting_text(&status);
            return Ok(Offer { status, text });
        }
        let id = uuid::Uuid::new_v4().simple().to_string();
        let now = self.local_now();
        let why = if !self.config.hours.open_at(&self.calendar, now) {
            Some(CallbackWhy::OutOfHours(
                self.config.hours.next_opening(&self.calendar, now),
            ))
        } else if self.store.agents_on_duty().await?.is_empty() {
            Some(CallbackWhy::NobodyOnDuty)
        } else if self.store.count_handoffs("waiting").await? >= i64::from(self.config.max_waiting)
        {
            Some(CallbackWhy::QueueFull)
        } else {
            None
        };
        let state = if why.is_some() { "callback" } else { "waiting" };
        self.store
            .insert_handoff(&id, session, state, reason)
            .await?;
        let h = self
            .store
            .handoff(&id)
            .await?
            .context("handoff just stored")?;
        let status = self.status(&h).await?;
        let text = match why {
            None => {
                self.waiting().await?;
                waiting_text(&status)
            }
            Some(why) => callback_text(&why, &self.config.hours),
        };
        tracing::info!(handoff = %id, state, reason, "handoff offered");
        Ok(Offer { status, text })
    }

    /// Stores a turn of the assistant as two lines (the question already redacted).
    pub async fn record_turn(&self, session: &str, question: &str, reply: &Reply) -> Result<()> {
        self.store
            .append_line(
                session,
                &NewLine {
                    sender: Sender::Citizen.as_str(),
                    author: None,
                    body: question,
                    citations: None,
                    handoff_id: None,
                },
            )
            .await?;
        self.store
            .append_line(
                session,
                &NewLine {
                    sender: Sender::Assistant.as_str(),
                    author: None,
                    body: &reply.answer,
                    citations: Some(serde_json::to_string(&reply.citations)?),
                    handoff_id: None,
                },
            )
            .await?;
        Ok(())
    }

    /// What the citizen typed, for the agent (masked); returns the line's number.
    pub async fn citizen_says(&self, h: &HandoffRow, text: &str) -> Result<i64, HandoffError> {
        let body = clean_text(text, MAX_TEXT)?;
        self.store.citizen_seen(&h.id).await?;
        let seq = self
            .store
            .append_line(
                &h.session_id,
                &NewLine {
                    sender: Sender::Citizen.as_str(),
                    author: None,
                    body: &body,
                    citations: None,
                    handoff_id: Some(&h.id),
                },
            )
            .await?;
        self.touched(&h.session_id);
        Ok(seq)
    }

    /// Lines of the conversation after `after`; notes that the citizen is still there.
    pub async fn lines(&self, session: &str, after: i64, limit: i64) -> Result<Vec<Line>> {
        if let Some(h) = self.live(session).await? {
            self.store.citizen_seen(&h.id).await?;
        }
        let rows = self.store.lines(session, after, limit).await?;
        Ok(rows.into_iter().map(line_of).collect())
    }

    /// The lines exchanged with agents (the citizen's to them and theirs), with their time in
    /// Unix ms, for the widget to place among the assistant's turns.
    pub async fn agent_lines(&self, session: &str) -> Result<Vec<(i64, Line)>> {
        let rows = self.store.lines(session, 0, i64::MAX).await?;
        Ok(rows
            .into_iter()
            .filter(|l| l.handoff_id.is_some())
            .map(|l| (l.at, line_of(l)))
            .collect())
    }

    /// The citizen leaves the queue or ends the conversation with the agent.
    pub async fn leave(&self, session: &str) -> Result<Option<HandoffStatus>> {
        let Some(h) = self.live(session).await? else {
            return Ok(None);
        };
        let resolution = if h.state == "waiting" {
            Resolution::Abandoned
        } else {
            Resolution::CitizenLeft
        };
        if self.store.close_handoff(&h.id, resolution.as_str()).await? {
            self.touched(&h.session_id);
            self.touched(EVERYONE);
            if resolution == Resolution::Abandoned {
                self.metrics.handoff_abandoned.inc();
            }
            self.waiting().await?;
            tracing::info!(handoff = %h.id, resolution = resolution.as_str(), "handoff closed by the citizen");
        }
        let h = self.store.handoff(&h.id).await?.context("handoff")?;
        Ok(Some(self.status(&h).await?))
    }

    /// A callback request: allowed after a callback offer or an agent's `callback_needed`.
    /// The number is sealed; the note masked.
    pub async fn request_callback(
        &self,
        session: &str,
        phone: &str,
        note: &str,
    ) -> Result<HandoffStatus, HandoffError> {
        let h = self
            .store
            .latest_handoff(session)
            .await?
            .filter(|h| {
                h.state == "callback"
                    || (h.state == "closed"
                        && h.resolution.as_deref() == Some(Resolution::CallbackNeeded.as_str()))
            })
            .ok_or(HandoffError::NoCallbackOffered)?;
        let phone = PhoneNumber::parse(phone).ok_or(HandoffError::BadPhone)?;
        if note.chars().count() > MAX_NOTE {
            return Err(HandoffError::TooLong(MAX_NOTE));
        }
        let note = redact(note.trim()).text;
        let id = uuid::Uuid::new_v4().simple().to_string();
        let sealed = self
            .sealer
            .seal(&callback_aad(&id), phone.expose().as_bytes());
        self.store
            .insert_callback(&id, &h.id, session, &sealed, &phone.masked(), &note)
            .await?;
        self.metrics.handoff_callbacks.inc();
        tracing::info!(handoff = %h.id, ticket = %id, "callback requested");
        Ok(self.status(&h).await?)
    }

    // ---- staff ----

    async fn log(&self, who: &Principal, subject: &str, action: Access) -> Result<()> {
        self.store
            .log_access(&who.user, who.role.as_str(), subject, action)
            .await
    }

    async fn summary(&self, h: &HandoffRow) -> Result<HandoffSummary> {
        let state = HandoffState::parse(&h.state).context("unknown handoff state")?;
        let position = if state == HandoffState::Waiting {
            Some(self.store.queue_position(h).await?)
        } else {
            None
        };
        let end = h.closed_at.unwrap_or_else(now_ms);
        let last_line = self
            .store
            .last_citizen_line(&h.session_id)
            .await?
            .unwrap_or_default();
        Ok(HandoffSummary {
            id: h.id.clone(),
            state,
            reason: h.reason.clone(),
            agent: h.agent.clone(),
            queued_at: rfc3339(h.queued_at),
            waited_s: (end - h.queued_at).max(0) / 1000,
            position,
            resolution: h.resolution.as_deref().and_then(resolution_of),
            last_line,
        })
    }

    /// Handoffs in a state (waiting and active oldest first, closed newest first).
    pub async fn list(
        &self,
        who: &Principal,
        state: HandoffState,
    ) -> Result<Vec<HandoffSummary>, HandoffError> {
        let rows = self.store.handoffs_in(state.as_str(), 200).await?;
        let mut out = Vec::with_capacity(rows.len());
        for h in &rows {
            out.push(self.summary(h).await?);
        }
        self.log(
            who,
            &format!("handoffs:{}", state.as_str()),
            Access::HandoffList,
        )
        .await?;
        Ok(out)
    }

    async fn row(&self, id: &str) -> Result<HandoffRow, HandoffError> {
        self.store.handoff(id).await?.ok_or(HandoffError::NotFound)
    }

    /// A handoff with its transcript; logged.
    pub async fn detail(&self, who: &Principal, id: &str) -> Result<HandoffDetail, HandoffError> {
        let h = self.row(id).await?;
        self.log(who, id, Access::HandoffView).await?;
        let transcript = self
            .store
            .lines(&h.session_id, 0, i64::MAX)
            .await?
            .into_iter()
            .map(line_of)
            .collect();
        let callback = match self.store.callback_of_handoff(id).await? {
            Some(c) => Some(callback_view(c)?),
            None => None,
        };
        Ok(HandoffDetail {
            summary: self.summary(&h).await?,
            transcript,
            callback,
        })
    }

    pub async fn claim(&self, who: &Principal, id: &str) -> Result<HandoffStatus, HandoffError> {
        let h = self.row(id).await?;
        if !self.store.claim_handoff(id, &who.user).await? {
            return Err(match h.state.as_str() {
                "active" => HandoffError::Taken,
                other => HandoffError::NotActive(state_label(other)),
            });
        }
        self.log(who, id, Access::HandoffClaim).await?;
        self.touched(&h.session_id);
        self.touched(EVERYONE);
        self.waiting().await?;
        tracing::info!(handoff = %id, agent = %who.user, "handoff claimed");
        let h = self.row(id).await?;
        Ok(self.status(&h).await?)
    }

    /// The active handoff, if `who` may act on it: its agent, or any supervisor.
    async fn owned(&self, who: &Principal, id: &str) -> Result<HandoffRow, HandoffError> {
        let h = self.row(id).await?;
        if h.state != "active" {
            return Err(HandoffError::NotActive(state_label(&h.state)));
        }
        if h.agent.as_deref() != Some(who.user.as_str()) && who.role != Role::Supervisor {
            return Err(HandoffError::NotYours);
        }
        Ok(h)
    }

    /// The agent's message to the citizen (masked); returns its line.
    pub async fn say(&self, who: &Principal, id: &str, text: &str) -> Result<Line, HandoffError> {
        let h = self.owned(who, id).await?;
        let body = clean_text(text, MAX_TEXT)?;
        let seq = self
            .store
            .append_line(
                &h.session_id,
                &NewLine {
                    sender: Sender::Agent.as_str(),
                    author: Some(&who.user),
                    body: &body,
                    citations: None,
                    handoff_id: Some(id),
                },
            )
            .await?;
        self.touched(&h.session_id);
        if let Some(ms) = self.store.note_first_response(id).await? {
            self.metrics
                .handoff_first_response_seconds
                .observe(ms as f64 / 1000.0);
        }
        self.log(who, id, Access::HandoffMessage).await?;
        let line = self
            .store
            .lines(&h.session_id, seq - 1, 1)
            .await?
            .into_iter()
            .next()
            .context("line just stored")?;
        Ok(line_of(line))
    }

    /// Hands the conversation to another agent or supervisor.
    pub async fn transfer(
        &self,
        who: &Principal,
        id: &str,
        to: &str,
    ) -> Result<HandoffStatus, HandoffError> {
        let h = self.owned(who, id).await?;
        let target = self.store.user_by_name(to.trim()).await?;
        let Some(target) = target.filter(|u| {
            !u.disabled && (u.role == Role::Agent.as_str() || u.role == Role::Supervisor.as_str())
        }) else {
            return Err(HandoffError::UnknownAgent(to.trim().to_string()));
        };
        let from = (who.role != Role::Supervisor).then_some(who.user.as_str());
        if !self.store.transfer_handoff(id, from, &target.name).await? {
            return Err(HandoffError::NotYours);
        }
        self.log(who, id, Access::HandoffTransfer).await?;
        self.touched(&h.session_id);
        tracing::info!(handoff = %id, from = h.agent.as_deref().unwrap_or(""), to = %target.name, "handoff transferred");
        let h = self.row(id).await?;
        Ok(self.status(&h).await?)
    }

    /// Closes an active handoff (its agent or a supervisor) or a waiting or callback one
    /// (any agent) with a resolution.
    pub async fn close(
        &self,
        who: &Principal,
        id: &str,
        resolution: &str,
    ) -> Result<HandoffStatus, HandoffError> {
        let resolution =
            Resolution::parse_for_agents(resolution).ok_or(HandoffError::BadResolution)?;
        let h = self.row(id).await?;
        match h.state.as_str() {
            "active" => {
                self.owned(who, id).await?;
            }
            "closed" => return Err(HandoffError::NotActive(state_label("closed"))),
            _ => {}
        }
        if !self.store.close_handoff(id, resolution.as_str()).await? {
            return Err(HandoffError::NotActive(state_label("closed")));
        }
        self.log(who, id, Access::HandoffClose).await?;
        self.touched(&h.session_id);
        self.touched(EVERYONE);
        self.waiting().await?;
        tracing::info!(handoff = %id, resolution = resolution.as_str(), "handoff closed");
        let h = self.row(id).await?;
        Ok(self.status(&h).await?)
    }

    /// Whether `who` marked themself away (agents are on duty by default, supervisors not).
    pub async fn away(&self, who: &Principal) -> Result<bool> {
        Ok(self
            .store
            .agent_away(&who.user)
            .await?
            .unwrap_or(who.role == Role::Supervisor))
    }

    pub async fn set_away(&self, who: &Principal, away: bool) -> Result<()> {
        self.store.set_agent_away(&who.user, away).await?;
        tracing::info!(agent = %who.user, away, "agent duty changed");
        Ok(())
    }

    /// Callback tickets in a status, oldest first; logged.
    pub async fn callbacks(
        &self,
        who: &Principal,
        status: CallbackStatus,
    ) -> Result<Vec<CallbackView>, HandoffError> {
        let rows = self.store.callbacks(&[status.as_str()], 0, 500).await?;
        self.log(
            who,
            &format!("callbacks:{}", status.as_str()),
            Access::CallbackList,
        )
        .await?;
        rows.into_iter()
            .map(|c| callback_view(c).map_err(HandoffError::from))
            .collect()
    }

    /// The full number of a ticket, to call; logged.
    pub async fn reveal_phone(
        &self,
        who: &Principal,
        ticket: &str,
    ) -> Result<PhoneNumber, HandoffError> {
        let sealed = self
            .store
            .callback_phone(ticket)
            .await?
            .ok_or(HandoffError::NoSuchCallback)?;
        let phone = self.open_phone(ticket, &sealed)?;
        self.log(who, ticket, Access::CallbackReveal).await?;
        Ok(phone)
    }

    fn open_phone(&self, ticket: &str, sealed: &[u8]) -> Result<PhoneNumber, HandoffError> {
        let plain = self
            .sealer
            .open(&callback_aad(ticket), sealed)
            .map_err(|_| HandoffError::Sealed)?;
        String::from_utf8(plain)
            .ok()
            .and_then(|s| PhoneNumber::parse(&s))
            .ok_or(HandoffError::Sealed)
    }

    /// A ticket's status (no number; not logged: it shows nothing personal).
    pub async fn callback_status_of(&self, ticket: &str) -> Result<Option<CallbackStatus>> {
        Ok(self
            .store
            .callback(ticket)
            .await?
            .and_then(|c| CallbackStatus::parse(&c.status)))
    }

    pub async fn set_callback_status(
        &self,
        who: &Principal,
        ticket: &str,
        status: &str,
    ) -> Result<CallbackView, HandoffError> {
        let status = CallbackStatus::parse(status).ok_or(HandoffError::BadStatus)?;
        if !self
            .store
            .set_callback_status(ticket, status.as_str(), &who.user)
            .await?
        {
            return Err(HandoffError::NoSuchCallback);
        }
        self.log(who, ticket, Access::CallbackUpdate).await?;
        let c = self
            .store
            .callback(ticket)
            .await?
            .ok_or(HandoffError::NoSuchCallback)?;
        Ok(callback_view(c)?)
    }

    /// Open tickets (new or contacted) created at or after `since` (Unix ms), with full
    /// numbers, for a 12345 work-order system; logged as an export by `actor`.
    pub async fn export(&self, actor: &str, since: i64) -> Result<Vec<ExportedTicket>> {
        let rows = self
            .store
            .callbacks(&["new", "contacted"], since, i64::MAX)
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for c in rows {
            let sealed = self
                .store
                .callback_phone(&c.id)
                .await?
                .context("ticket's number")?;
            let phone = self
                .open_phone(&c.id, &sealed)
                .map_err(|e| anyhow::anyhow!("工单 {}：{e}", c.id))?;
            let reason = self
                .store
                .handoff(&c.handoff_id)
                .await?
                .map(|h| h.reason)
                .unwrap_or_default();
            self.store
                .log_access(actor, "admin", &c.id, Access::Export)
                .await?;
            out.push(ExportedTicket {
                id: c.id,
                created_at: rfc3339(c.created_at),
                status: c.status,
                phone: phone.expose().to_string(),
                message: c.note,
                reason,
                session_id: c.session_id,
            });
        }
        Ok(out)
    }

    /// Closes as abandoned the waiting handoffs whose citizen has gone, and deletes closed
    /// tickets past their retention. Run by every node; the statements are idempotent.
    pub async fn sweep(&self) -> Result<()> {
        let gone = now_ms() - self.config.abandon_after_secs as i64 * 1000;
        let n = self.store.abandon_unseen(gone).await?;
        if n > 0 {
            self.touched(EVERYONE);
            self.metrics.handoff_abandoned.inc_by(n);
            tracing::info!(
                handoffs = n,
                "waiting citizens gone: handoffs closed as abandoned"
            );
        }
        let cutoff = now_ms() - i64::from(self.config.callback_retention_days) * 86_400_000;
        let purged = self.store.purge_callbacks(cutoff).await?;
        if purged > 0 {
            tracing::info!(tickets = purged, "closed callback tickets purged");
        }
        self.waiting().await?;
        Ok(())
    }
}

fn resolution_of(s: &str) -> Option<Resolution> {
    [
        Resolution::Answered,
        Resolution::CallbackNeeded,
        Resolution::Referred,
        Resolution::NoResponse,
        Resolution::Abandoned,
        Resolution::CitizenLeft,
    ]
    .into_iter()
    .find(|r| r.as_str() == s)
}

fn state_label(s: &str) -> &'static str {
    match s {
        "waiting" => "排队中",
        "active" => "接待中",
        "callback" => "待回电",
        _ => "已结束",
    }
}

fn line_of(l: LineRow) -> Line {
    Line {
        id: l.seq,
        from: Sender::parse(&l.sender),
        text: l.body,
        at: rfc3339(l.at),
        agent: l.author,
        citations: l
            .citations
            .as_deref()
            .and_then(|c| serde_json::from_str(c).ok())
            .unwrap_or_default(),
    }
}

fn callback_view(c: CallbackRow) -> Result<CallbackView> {
    Ok(CallbackView {
        status: CallbackStatus::parse(&c.status).context("unknown callback status")?,
        id: c.id,
        handoff_id: c.handoff_id,
        phone: c.phone_masked,
        message: c.note,
        handled_by: c.handled_by,
        created_at: rfc3339(c.created_at),
        updated_at: rfc3339(c.updated_at),
    })
}

enum CallbackWhy {
    OutOfHours(Option<NaiveDateTime>),
    NobodyOnDuty,
    QueueFull,
}

/// What a citizen in the queue is told.
pub fn waiting_text(s: &HandoffStatus) -> String {
    match s.state {
        HandoffState::Active => {
            "工作人员已经在这个对话里接待您，您发送的消息会直接交给工作人员。".to_string()
        }
        _ => {
            let ahead = s.position.unwrap_or(1).saturating_sub(1);
            let minutes = (s.estimated_wait_s.unwrap_or(0) + 59) / 60;
            format!(
                "已为您转接人工客服。正在排队：您前面还有{ahead}位，预计等待约{}分钟。工作人员接入后会在这里回复您，请不要关闭页面；您现在发送的消息会直接交给工作人员。",
                minutes.max(1)
            )
        }
    }
}

fn callback_text(why: &CallbackWhy, hours: &Hours) -> String {
    let head = match why {
        CallbackWhy::OutOfHours(next) => {
            let next = next
                .map(|t| format!("下一次人工服务从{}开始。", describe_time(t)))
                .unwrap_or_default();
            format!(
                "现在不是人工服务时间（{}），暂时无法转接人工客服。{next}",
                hours.describe()
            )
        }
        CallbackWhy::NobodyOnDuty => "现在没有人工客服在线，暂时无法转接。".to_string(),
        CallbackWhy::QueueFull => "现在排队等待人工客服的人数已满，暂时无法转接。".to_string(),
    };
    format!(
        "{head}您可以留下电话号码和简短的问题，工作人员会在工作时间给您回电；急事请拨打12345政务服务便民热线（7×24小时）。"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phone_numbers_parse_and_mask() {
        let p = PhoneNumber::parse("138 1234-5678").unwrap();
        assert_eq!(p.expose(), "13812345678");
        assert_eq!(p.masked(), "138****5678");
        assert_eq!(format!("{p:?}"), "PhoneNumber(138****5678)");
        assert_eq!(p.to_string(), "138****5678");
        let l = PhoneNumber::parse("(010) 6512-3456").unwrap();
        assert_eq!(l.masked(), "010****3456");
        assert!(
            PhoneNumber::parse("１３８１２３４５６７８").is_some(),
            "full width"
        );
        assert!(PhoneNumber::parse("12812345678").is_none());
        assert!(PhoneNumber::parse("1381234567").is_none());
        assert!(PhoneNumber::parse("abc").is_none());
        assert!(PhoneNumber::parse("").is_none());
    }

    #[test]
    fn waiting_text_says_what_happens_next() {
        let s = HandoffStatus {
            id: "x".into(),
            state: HandoffState::Waiting,
            position: Some(3),
            estimated_wait_s: Some(120),
            agent: None,
            resolution: None,
            callback: None,
        };
        let t = waiting_text(&s);
        assert!(t.contains("前面还有2位"), "{t}");
        assert!(t.contains("约2分钟"), "{t}");
        let t = callback_text(&CallbackWhy::NobodyOnDuty, &Hours::default());
        assert!(!t.contains("正在为您转接"), "{t}");
        assert!(t.contains("回电"), "{t}");
    }

    #[test]
    fn agents_choose_four_resolutions() {
        assert_eq!(
            Resolution::parse_for_agents("callback_needed"),
            Some(Resolution::CallbackNeeded)
        );
        assert_eq!(Resolution::parse_for_agents("abandoned"), None);
        assert_eq!(Resolution::parse_for_agents("x"), None);
    }
}

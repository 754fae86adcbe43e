//! Starting the server: open the store, make sure an index exists, serve HTTP, and keep the
//! index fresh and old conversations purged in the background.

use crate::account::Accounts;
use crate::assistant::Assistant;
use crate::config::Config;
use crate::desk::{self, Desk};
use crate::handoff::Handoffs;
use crate::llm::engine::{self, Availability, Engine};
use crate::metrics::Metrics;
use crate::search::{self, IndexHandle};
use crate::store::Store;
use crate::store::seal::Keyring;
use crate::web::{self, AppState};
use anyhow::{Context, Result};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

/// How often the server looks for a rebuilt index.
const INDEX_POLL: Duration = Duration::from_secs(2);
const PURGE_EVERY: Duration = Duration::from_secs(3600);
/// How often waiting citizens who have gone are looked for (and old tickets purged).
const HANDOFF_SWEEP: Duration = Duration::from_secs(15);
/// How long, after a shutdown's deadline, the chat streams it cut get to send their last
/// event.
const STREAM_FAREWELL: Duration = Duration::from_secs(1);

pub struct Server {
    listener: TcpListener,
    /// `metrics.listen`: serves `/metrics` only, to whoever reaches it.
    metrics_listener: Option<TcpListener>,
    state: Arc<AppState>,
    config: Config,
    /// Ends the open chat streams (`AppState::cut_streams`).
    cut_streams: tokio::sync::watch::Sender<bool>,
}

/// Prepares everything and binds the listening socket (port 0 picks a free port). The
/// language model named by the configuration is loaded here; without one the server answers
/// extractively and says so in `/healthz` and the log.
pub async fn bind(config: Config) -> Result<Server> {
    let engine = tokio::task::spawn_blocking({
        let config = config.clone();
        move || engine::from_config(&config)
    })
    .await?;
    bind_with(config, engine).await
}

/// As [`bind`], with the generation engine given (any `Generator`, e.g. one built elsewhere).
pub async fn bind_with(config: Config, engine: (Option<Engine>, Availability)) -> Result<Server> {
    let reader = tokio::task::spawn_blocking({
        let config = config.clone();
        move || desk::reader_from_config(&config)
    })
    .await?;
    bind_with_reader(config, engine, reader).await
}

/// As [`bind_with`], with the document reader given (tests, another OCR engine).
pub async fn bind_with_reader(
    config: Config,
    engine: (Option<Engine>, Availability),
    reader: (Option<Arc<dyn desk::DocumentReader>>, desk::Availability),
) -> Result<Server> {
    if let Some(hint) = &reader.1.hint {
        tracing::warn!(hint = hint.as_str(), "document verification unavailable");
    }
    let (engine, generation) = engine;
    match (&engine, &generation.hint) {
        (Some(_), _) => tracing::info!(
            model = generation.model.as_deref().unwrap_or(""),
            concurrency = config.generation.concurrency(),
            queue = config.generation.queue,
            "answers are written by a language model and checked against the passages"
        ),
        (None, hint) => tracing::warn!(
            hint = hint.as_deref().unwrap_or(""),
            "no language model: answering extractively"
        ),
    }
    let store = Store::connect(&config.database_url()).await?;
    if search::index::current_generation(&config.data_dir).is_none() {
        let kb = config.kb_dir.clone();
        let data = config.data_dir.clone();
        tokio::task::spawn_blocking(move || build_first_index(&kb, &data)).await??;
    }
    let abandoned = tokio::task::spawn_blocking({
        let data = config.data_dir.clone();
        move || search::index::remove_abandoned_builds(&data)
    })
    .await?;
    if abandoned > 0 {
        tracing::info!(
            folders = abandoned,
            "removed the folders of index builds that did not finish"
        );
    }
    let index = IndexHandle::open(&config.data_dir)?;
    let metrics = Arc::new(Metrics::new());
    let keys = Keyring::load_or_create(&config.data_dir)?;
    if !keys.retired.is_empty() {
        tracing::warn!(
            key = %keys.current.id(),
            retired = keys.retired.len(),
            "a scan key rotation is unfinished: run `xiaoban keys rotate` to finish it"
        );
    }
    let handoffs = Arc::new(Handoffs::new(
        store.clone(),
        config.handoff.clone(),
        keys.clone(),
        config.scans.cipher,
        metrics.clone(),
    )?);
    let desk = Arc::new(
        Desk::new(store.clone(), keys, config.scans.clone(), reader).counting_in(&metrics),
    );
    let accounts = Accounts::with_limits(
        store.clone(),
        crate::account::Limits {
            per_account: config.limits.sign_in_attempts_per_account.max(1),
            per_address: config.limits.sign_in_attempts_per_address.max(1),
            concurrent_checks: config.limits.concurrent_password_checks,
            ..crate::account::Limits::default()
        },
    )
    .counting_in(&metrics);
    let limits = web::limits::Limits::new(config.limits.clone(), metrics.clone())?;
    let (cut_streams, streams_cut) = tokio::sync::watch::channel(false);
    let state = Arc::new(AppState {
        assistant: Assistant {
            index,
            store,
            tuning: config.answer,
            metrics: metrics.clone(),
            engine,
            working_days: Some(Arc::new(handoffs.working_days())),
            handoffs: Some(handoffs.clone()),
        },
        handoffs,
        metrics,
        generation,
        accounts,
        desk,
        limits,
        cut_streams: streams_cut,
        metrics_token: Some(config.metrics.token.clone()).filter(|t| !t.is_empty()),
    });
    note_index(&state);
    let listener = TcpListener::bind(&config.listen)
        .await
        .with_context(|| format!("无法监听 {}", config.listen))?;
    let metrics_listener = match config.metrics.listen.as_str() {
        "" => None,
        address => Some(
            TcpListener::bind(address)
                .await
                .with_context(|| format!("无法监听 metrics.listen {address}"))?,
        ),
    };
    Ok(Server {
        listener,
        metrics_listener,
        state,
        config,
        cut_streams,
    })
}

/// Builds the index a fresh data folder lacks. Nodes sharing the folder that start together
/// take turns on a lock file, and a node that finds the index built meanwhile uses it: the
/// index is built once.
fn build_first_index(kb: &std::path::Path, data: &std::path::Path) -> Result<()> {
    std::fs::create_dir_all(data).with_context(|| format!("创建数据目录 {}", data.display()))?;
    let path = data.join("index.lock");
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("打开 {}", path.display()))?;
    // Released when the file closes, also if this process dies.
    lock.lock()
        .with_context(|| format!("锁定 {}", path.display()))?;
    if search::index::current_generation(data).is_some() {
        return Ok(());
    }
    tracing::info!(kb = %kb.display(), "no index yet: building it");
    let report = search::build(kb, data)?;
    for e in &report.errors {
        tracing::warn!(problem = %e, "document left out of the index");
    }
    Ok(())
}

fn note_index(state: &AppState) {
    let index = state.assistant.index.get();
    state
        .metrics
        .index_documents
        .set(index.catalog.documents.len() as i64);
    state
        .metrics
        .index_passages
        .set(index.catalog.passages.len() as i64);
}

impl Server {
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("bound socket has an address")
    }

    /// The address serving only `/metrics` (`metrics.listen`), if one is configured.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_listener
            .as_ref()
            .and_then(|l| l.local_addr().ok())
    }

    /// Serves until `shutdown` completes, then finishes the requests and verification jobs
    /// under way within `shutdown_deadline_secs`; jobs still being read then go back to the
    /// queue (their claims released) for the next start or another node.
    pub async fn run(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> Result<()> {
        let state = self.state.clone();
        let refresher = tokio::spawn(async move {
            let mut tick = tokio::time::interval(INDEX_POLL);
            loop {
                tick.tick().await;
                let st = state.clone();
                match tokio::task::spawn_blocking(move || st.assistant.index.refresh()).await {
                    Ok(Ok(Some(generation))) => {
                        tracing::info!(%generation, "picked up rebuilt index");
                        state.metrics.index_swaps.inc();
                        note_index(&state);
                    }
                    Ok(Ok(None)) => {}
                    Ok(Err(e)) => {
                        tracing::error!(error = %e, "could not open rebuilt index; keeping the old one")
                    }
                    Err(e) => tracing::error!(error = %e, "index refresh task failed"),
                }
            }
        });
        let state = self.state.clone();
        let days = self.config.conversation_retention_days;
        let purger = tokio::spawn(async move {
            let mut tick = tokio::time::interval(PURGE_EVERY);
            loop {
                tick.tick().await;
                let store = &state.assistant.store;
                // With several nodes on one database, one purges at a time.
                match store
                    .exclusively("conversation purge", || store.purge_conversations(days))
                    .await
                {
                    Ok(Some(n)) if n > 0 => {
                        tracing::info!(conversations = n, "purged expired conversations")
                    }
                    Ok(_) => {}
                    Err(e) => tracing::error!(error = %e, "purge failed"),
                }
                if let Err(e) = state.accounts.purge_attempts().await {
                    tracing::error!(error = %e, "purging old sign-in attempts failed");
                }
            }
        });
        let scan_purger = desk::spawn_purge(self.state.desk.clone(), PURGE_EVERY);
        let handoffs = self.state.handoffs.clone();
        // One look at the database per node and poll interval wakes the event streams whose
        // conversations changed, here or on another node.
        let handoff_watcher = tokio::spawn(async move {
            let mut since = crate::store::handoffs::now_ms();
            let mut tick = tokio::time::interval(crate::web::handoff_api::EVENT_POLL);
            loop {
                tick.tick().await;
                match handoffs.wake_changed(since).await {
                    Ok(next) => since = next,
                    Err(e) => tracing::error!(error = %e, "looking for handoff changes failed"),
                }
            }
        });
        let handoffs = self.state.handoffs.clone();
        let handoff_sweeper = tokio::spawn(async move {
            let mut tick = tokio::time::interval(HANDOFF_SWEEP);
            loop {
                tick.tick().await;
                if let Err(e) = handoffs.sweep().await {
                    tracing::error!(error = %e, "handoff sweep failed");
                }
            }
        });
        // Set when the shutdown signal arrives: workers stop claiming jobs, and the deadline
        // for requests and jobs under way starts.
        let (stopping, stop) = tokio::sync::watch::channel(false);
        let stopping = Arc::new(stopping);
        let signalled = Arc::new(std::sync::OnceLock::new());
        let mut workers = desk::spawn_workers(self.state.desk.clone(), stop.clone());
        let deadline = Duration::from_secs(self.config.shutdown_deadline_secs);
        let begin_stopping = {
            let (stopping, signalled) = (stopping.clone(), signalled.clone());
            move || {
                let _ = signalled.set(tokio::time::Instant::now());
                stopping.send_replace(true);
            }
        };
        let shutdown = {
            let begin_stopping = begin_stopping.clone();
            async move {
                shutdown.await;
                begin_stopping();
            }
        };
        tracing::info!(addr = %self.local_addr(), "serving: widget at /widget, API at /api/v1");
        let metrics_server = self.metrics_listener.map(|listener| {
            if let Ok(addr) = listener.local_addr() {
                tracing::info!(%addr, "serving /metrics on its own address");
            }
            let app = web::metrics_router(self.state.clone());
            tokio::spawn(async move { axum::serve(listener, app).await })
        });
        // Outermost, so that every request (also refused or unmatched ones) gets an id, its
        // span and its log line; applied to the routed app, so the route template is known.
        let app = web::router(self.state.clone()).layer(axum::middleware::from_fn_with_state(
            self.state.metrics.clone(),
            web::request_log::track,
        ));
        let serve = axum::serve(
            self.listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown)
        .into_future();
        tokio::pin!(serve);
        let deadline_passed = {
            let mut stop = stop.clone();
            let signalled = signalled.clone();
            async move {
                let _ = stop.wait_for(|s| *s).await;
                let from = signalled
                    .get()
                    .copied()
                    .unwrap_or_else(tokio::time::Instant::now);
                tokio::time::sleep_until(from + deadline).await;
            }
        };
        tokio::pin!(deadline_passed);
        let mut result = Ok(());
        let mut in_time = tokio::select! {
            r = &mut serve => {
                result = r;
                true
            }
            _ = &mut deadline_passed => false,
        };
        let served = in_time;
        if in_time {
            // Requests are done; jobs being read get what is left of the deadline.
            begin_stopping();
            in_time = tokio::select! {
                _ = futures::future::join_all(workers.iter_mut()) => true,
                _ = &mut deadline_passed => false,
            };
        }
        if !in_time {
            // Chat streams still open end with an event telling the citizen to ask again.
            self.cut_streams.send_replace(true);
            // Jobs still being read (by workers or by requests) go back to the queue before
            // their readers are dropped, so a restart or another node takes them up at once.
            let given_back = self.state.desk.release_running().await;
            tracing::warn!(
                deadline_secs = deadline.as_secs(),
                jobs_given_back = given_back,
                "shutdown deadline passed: requests still under way are cut off"
            );
            if !served {
                // The streams' last events go out; other requests are cut when this returns.
                if let Ok(r) = tokio::time::timeout(STREAM_FAREWELL, &mut serve).await {
                    result = r;
                }
            }
        }
        for w in &workers {
            w.abort();
        }
        if let Some(m) = &metrics_server {
            m.abort();
        }
        refresher.abort();
        purger.abort();
        scan_purger.abort();
        handoff_sweeper.abort();
        handoff_watcher.abort();
        result.context("server failed")
    }
}

/// Completes on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutting down: finishing requests under way");
}

//! `xiaoban bench`: retrieval and extractive-reply latency for 1 and 16 concurrent clients on
//! the knowledge base padded to N passages, the build time of that index, and resident memory.
//! A measurement for the closing note, not a test.

use super::answers::load_cases;
use super::stats::percentile;
use crate::answer::{self, Conversation, Question};
use crate::config::Config;
use crate::search::{self, KnowledgeIndex};
use anyhow::Result;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

fn rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

/// CPU time the calling thread has used, in milliseconds: a request's service time apart from
/// the time its worker waited for a core (the bench shares the machine with whatever else runs).
#[cfg(unix)]
fn thread_cpu_ms() -> Option<f64> {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec through a pointer to a live one.
    let ok = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) } == 0;
    ok.then(|| t.tv_sec as f64 * 1000.0 + t.tv_nsec as f64 / 1e6)
}

#[cfg(not(unix))]
fn thread_cpu_ms() -> Option<f64> {
    None
}

/// Copies the knowledge base and adds renamed copies of its documents (as if from other
/// districts) until it has at least `passages` passages.
fn pad(kb: &Path, out: &Path, passages: usize) -> Result<usize> {
    let docs_out = out.join("documents");
    std::fs::create_dir_all(&docs_out)?;
    for f in [
        "synonyms.txt",
        "glossary.txt",
        "user_dict.txt",
        "routes.toml",
    ] {
        if kb.join(f).exists() {
            std::fs::copy(kb.join(f), out.join(f))?;
        }
    }
    let corpus = crate::kb::load(kb)?;
    let per_round: usize = corpus
        .documents
        .iter()
        .map(|d| search::passage::split(d, 0, 0).len())
        .sum();
    let mut total = 0;
    let mut round = 0;
    while total < passages {
        for d in &corpus.documents {
            let src = std::fs::read_to_string(
                crate::kb::documents_dir(kb).join(format!("{}.md", d.meta.id)),
            )?;
            let (id, text) = if round == 0 {
                (d.meta.id.to_string(), src)
            } else {
                let id = format!("{}-d{round}", d.meta.id);
                let text = src
                    .replacen(
                        &format!("id = \"{}\"", d.meta.id),
                        &format!("id = \"{id}\""),
                        1,
                    )
                    .replacen(
                        &format!("title = \"{}\"", d.meta.title),
                        &format!("title = \"{}（第{round}区）\"", d.meta.title),
                        1,
                    )
                    .replace("superseded_by", "# superseded_by");
                (id, text)
            };
            std::fs::write(docs_out.join(format!("{id}.md")), text)?;
        }
        total += per_round;
        round += 1;
    }
    Ok(total)
}

pub fn run(config: &Config, passages: usize, questions: &Path, rounds: usize) -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let kb = tmp.path().join("kb");
    let data = tmp.path().join("data");
    let padded = pad(&config.kb_dir, &kb, passages)?;
    let started = Instant::now();
    let report = search::build(&kb, &data)?;
    let build_s = started.elapsed().as_secs_f64();
    println!(
        "padded knowledge base: {} documents, {} passages (target {padded}); build {build_s:.2} s",
        report.documents, report.passages
    );
    let index = Arc::new(KnowledgeIndex::open_current(&data)?);
    let cases: Vec<String> = load_cases(questions)?
        .into_iter()
        .map(|(_, c)| c.question)
        .filter_map(|q| Question::parse(&q).ok().map(|q| q.as_str().to_string()))
        .collect();
    let today = chrono::Local::now().date_naive();
    let tuning = config.answer;
    // Requests are served as the server serves them: by one worker per core (the server's
    // runtime threads run the answer pipeline inline). Each client sends its next question when
    // the previous reply arrives; latency runs from sending to the reply, so it includes the
    // wait for a free worker.
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    for clients in [1usize, 16] {
        let per_client = (rounds * 16 / clients).max(1);
        let (jobs, queue) = std::sync::mpsc::channel::<Job>();
        let queue = Arc::new(std::sync::Mutex::new(queue));
        let pool: Vec<_> = (0..workers)
            .map(|_| {
                let queue = queue.clone();
                let index = index.clone();
                std::thread::spawn(move || {
                    loop {
                        let job = match queue.lock().map(|q| q.recv()) {
                            Ok(Ok(job)) => job,
                            _ => return,
                        };
                        let cpu = thread_cpu_ms();
                        if job.reply {
                            let q = Question::parse(&job.question).expect("parsed above");
                            let _ = answer::answer(
                                &index,
                                &tuning,
                                &q,
                                &Conversation::default(),
                                today,
                            );
                        } else {
                            let _ = index.search(&job.question, today, 10, &tuning.weights());
                        }
                        let service = cpu.zip(thread_cpu_ms()).map(|(a, b)| b - a);
                        let _ = job
                            .done
                            .send((job.sent.elapsed().as_secs_f64() * 1000.0, service));
                    }
                })
            })
            .collect();
        let wall = Instant::now();
        let client_threads: Vec<_> = (0..clients)
            .map(|c| {
                let cases = cases.clone();
                let jobs = jobs.clone();
                std::thread::spawn(move || {
                    let (done, latency) = std::sync::mpsc::channel();
                    let mut search_ms = Vec::new();
                    let mut reply_ms = Vec::new();
                    let mut search_cpu = Vec::new();
                    let mut reply_cpu = Vec::new();
                    for r in 0..per_client {
                        for (i, q) in cases.iter().enumerate() {
                            if (i + r + c) % 4 != 0 {
                                continue;
                            }
                            for reply in [false, true] {
                                let job = Job {
                                    question: q.clone(),
                                    reply,
                                    sent: Instant::now(),
                                    done: done.clone(),
                                };
                                jobs.send(job).expect("workers running");
                                let (ms, cpu) = latency.recv().expect("a reply");
                                let (all, served) = if reply {
                                    (&mut reply_ms, &mut reply_cpu)
                                } else {
                                    (&mut search_ms, &mut search_cpu)
                                };
                                all.push(ms);
                                served.extend(cpu);
                            }
                        }
                    }
                    [search_ms, reply_ms, search_cpu, reply_cpu]
                })
            })
            .collect();
        drop(jobs);
        let [mut s, mut r, mut s_cpu, mut r_cpu] = [(); 4].map(|_| Vec::new());
        for t in client_threads {
            let [a, b, c, d] = t.join().expect("bench client");
            s.extend(a);
            r.extend(b);
            s_cpu.extend(c);
            r_cpu.extend(d);
        }
        let secs = wall.elapsed().as_secs_f64();
        for w in pool {
            w.join().expect("bench worker");
        }
        println!(
            "{clients:>2} client(s), {workers} worker(s): {} | {} replies, {:.0} requests/s",
            spread(&s, &r, 2),
            r.len(),
            (r.len() + s.len()) as f64 / secs
        );
        if !s_cpu.is_empty() && !r_cpu.is_empty() {
            println!(
                "   service time (worker CPU, without waiting): {}",
                spread(&s_cpu, &r_cpu, 3)
            );
        }
    }
    println!("resident memory: {:.0} MB", rss_mb());
    Ok(())
}

/// The p50 and p99 of retrieval and of extractive replies, in ms with `decimals` decimals.
fn spread(search: &[f64], reply: &[f64], decimals: usize) -> String {
    let [a, b, c, d] = [
        percentile(search, 0.5),
        percentile(search, 0.99),
        percentile(reply, 0.5),
        percentile(reply, 0.99),
    ];
    format!(
        "retrieval p50 {a:.decimals$} ms p99 {b:.decimals$} ms | extractive reply p50 {c:.decimals$} ms p99 {d:.decimals$} ms"
    )
}

/// One request for a bench worker: a search or a whole extractive reply.
struct Job {
    question: String,
    reply: bool,
    sent: Instant,
    /// Latency from sending, and the worker's CPU time for the request (ms).
    done: std::sync::mpsc::Sender<(f64, Option<f64>)>,
}

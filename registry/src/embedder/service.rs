//! Async front of an [`Embedder`]: bounded blocking pool plus a query cache.
//!
//! One inference keeps a core busy for milliseconds; on an async worker it
//! would stall every other request scheduled there. Work therefore goes to
//! tokio's blocking pool, and a semaphore caps how many inferences run at once
//! (the blocking pool itself is unbounded in practice, 512 threads, so it would
//! not stop a burst from oversubscribing the cores and raising every request's
//! latency). Waiters queue in FIFO order on the semaphore.
//!
//! Query vectors are cached in an LRU (the `lru` crate: small, widely used and
//! maintained, no dependencies beyond `hashbrown`). A single mutex around it is
//! enough: a lookup takes well under a microsecond against milliseconds for an
//! inference, so contention is negligible, and a concurrent cache such as
//! `quick_cache` would buy nothing here.

use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex, PoisonError};

use lru::LruCache;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::{EmbedError, Embedder, EmbeddingSpace, MAX_BATCH, check_texts};

/// Texts longer than this (in bytes, after trimming) are embedded but not
/// cached, so that the cache's memory stays bounded by its capacity.
const MAX_CACHED_TEXT: usize = 2048;

/// Settings of an [`EmbeddingService`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceConfig {
    /// Inferences allowed to run at once; each keeps one core busy.
    pub max_concurrency: usize,
    /// Query vectors kept in the LRU cache; 0 disables it.
    pub cache_capacity: usize,
}

impl Default for ServiceConfig {
    /// One inference per available core, and 4096 cached queries (about 7 MB).
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, NonZeroUsize::get);
        Self {
            max_concurrency: cores,
            cache_capacity: 4096,
        }
    }
}

/// Query text (trimmed) → its vector.
type QueryCache = Mutex<LruCache<String, Arc<[f32]>>>;

/// Async, cloneable handle running an [`Embedder`] off the async workers.
#[derive(Debug, Clone)]
pub struct EmbeddingService {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    embedder: Arc<dyn Embedder>,
    permits: Arc<Semaphore>,
    cache: Option<QueryCache>,
}

impl EmbeddingService {
    pub fn new(embedder: Arc<dyn Embedder>, config: ServiceConfig) -> Self {
        let cache = NonZeroUsize::new(config.cache_capacity).map(|cap| Mutex::new(LruCache::new(cap)));
        Self {
            inner: Arc::new(Inner {
                embedder,
                permits: Arc::new(Semaphore::new(config.max_concurrency.max(1))),
                cache,
            }),
        }
    }

    /// The space of every vector this service returns.
    pub fn space(&self) -> &EmbeddingSpace {
        self.inner.embedder.space()
    }

    pub fn embedder(&self) -> &Arc<dyn Embedder> {
        &self.inner.embedder
    }

    /// Number of cached query vectors.
    pub fn cached(&self) -> usize {
        self.inner
            .cache
            .as_ref()
            .map_or(0, |c| c.lock().unwrap_or_else(PoisonError::into_inner).len())
    }

    /// Embeds a routing query, from the cache when it was seen recently.
    ///
    /// The cache key is the trimmed text: the tokenizer ignores surrounding
    /// whitespace, so the vector is the same.
    pub async fn embed_query(&self, text: &str) -> Result<Vec<f32>, EmbedError> {
        check_texts(&[text])?;
        let key = text.trim();
        if let Some(v) = self.lookup(key) {
            return Ok(v);
        }
        let vector = only_vector(self.run(vec![key.to_owned()]).await?)?;
        self.remember(key, &vector);
        Ok(vector)
    }

    /// Embeds a routing query as [`embed_query`](Self::embed_query) does,
    /// then runs `then` with its vector and the microseconds the embedding
    /// took (0 from the cache) on the same blocking thread: CPU work that
    /// needs the vector at once (a route) pays one hand-off to the blocking
    /// pool, not two.
    pub async fn embed_query_then<T, F>(&self, text: &str, then: F) -> Result<T, EmbedError>
    where
        T: Send + 'static,
        F: FnOnce(Vec<f32>, u64) -> T + Send + 'static,
    {
        check_texts(&[text])?;
        let key = text.trim().to_owned();
        let cached = self.lookup(&key);
        let permit = match cached {
            Some(_) => None,
            None => Some(self.permit().await?),
        };
        let this = self.clone();
        let task = tokio::task::spawn_blocking(move || {
            let (vector, micros) = match cached {
                Some(v) => (v, 0),
                None => {
                    let start = std::time::Instant::now();
                    let vector = only_vector(this.inner.embedder.embed_batch(&[key.as_str()])?)?;
                    // The core is free for the next inference once this one ends.
                    drop(permit);
                    this.remember(&key, &vector);
                    (vector, start.elapsed().as_micros() as u64)
                }
            };
            Ok(then(vector, micros))
        });
        task.await.map_err(|e| EmbedError::Worker {
            message: e.to_string(),
        })?
    }

    /// The query cache, if it is on and `key` is short enough to keep.
    fn cache_for(&self, key: &str) -> Option<&QueryCache> {
        self.inner.cache.as_ref().filter(|_| key.len() <= MAX_CACHED_TEXT)
    }

    fn lookup(&self, key: &str) -> Option<Vec<f32>> {
        self.cache_for(key)?
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(key)
            .map(|v| v.to_vec())
    }

    fn remember(&self, key: &str, vector: &[f32]) {
        if let Some(cache) = self.cache_for(key) {
            cache
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .put(key.to_owned(), vector.into());
        }
    }

    async fn permit(&self) -> Result<OwnedSemaphorePermit, EmbedError> {
        Arc::clone(&self.inner.permits)
            .acquire_owned()
            .await
            .map_err(|e| EmbedError::Worker {
                message: format!("embedding service closed: {e}"),
            })
    }

    /// Embeds many texts (a manifest's skill texts), uncached, in order.
    ///
    /// Large requests are split into batches of [`MAX_BATCH`] that each wait
    /// for a permit, so queries queued meanwhile are served between them
    /// rather than after the whole request.
    pub async fn embed_batch(&self, texts: Vec<String>) -> Result<Vec<Vec<f32>>, EmbedError> {
        {
            let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
            check_texts(&refs)?;
        }
        let mut vectors = Vec::with_capacity(texts.len());
        let mut texts = texts.into_iter().peekable();
        while texts.peek().is_some() {
            let chunk: Vec<String> = texts.by_ref().take(MAX_BATCH).collect();
            vectors.extend(self.run(chunk).await?);
        }
        Ok(vectors)
    }

    async fn run(&self, texts: Vec<String>) -> Result<Vec<Vec<f32>>, EmbedError> {
        let permit = self.permit().await?;
        let embedder = Arc::clone(&self.inner.embedder);
        let task = tokio::task::spawn_blocking(move || {
            // Held until the inference ends, even if the caller stops waiting:
            // the core is busy until then either way.
            let _permit = permit;
            let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
            embedder.embed_batch(&refs)
        });
        task.await.map_err(|e| EmbedError::Worker {
            message: e.to_string(),
        })?
    }
}

/// The vector of a one-text batch.
fn only_vector(mut vectors: Vec<Vec<f32>>) -> Result<Vec<f32>, EmbedError> {
    vectors.pop().ok_or_else(|| EmbedError::Inference {
        message: "the embedder returned no vector for one text".to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use super::*;

    /// Returns `[len, index-in-batch]` vectors and records concurrency.
    #[derive(Debug, Default)]
    struct Fake {
        space: Option<EmbeddingSpace>,
        calls: AtomicUsize,
        running: AtomicUsize,
        max_running: AtomicUsize,
    }

    impl Embedder for Fake {
        fn space(&self) -> &EmbeddingSpace {
            self.space.as_ref().expect("space set")
        }

        fn embed_batch(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
            check_texts(texts)?;
            self.calls.fetch_add(1, Ordering::SeqCst);
            let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
            self.max_running.fetch_max(now, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(50));
            self.running.fetch_sub(1, Ordering::SeqCst);
            Ok(texts
                .iter()
                .map(|t| vec![t.len() as f32, texts.len() as f32])
                .collect())
        }
    }

    fn service(max_concurrency: usize, cache_capacity: usize) -> (Arc<Fake>, EmbeddingService) {
        let fake = Arc::new(Fake {
            space: Some(EmbeddingSpace::new("fake", 2)),
            ..Fake::default()
        });
        let service = EmbeddingService::new(
            fake.clone(),
            ServiceConfig {
                max_concurrency,
                cache_capacity,
            },
        );
        (fake, service)
    }

    #[tokio::test]
    async fn queries_are_cached_by_trimmed_text() {
        let (fake, service) = service(1, 8);
        let a = service.embed_query("hello").await.unwrap();
        let b = service.embed_query("  hello ").await.unwrap();
        assert_eq!(a, b);
        assert_eq!(fake.calls.load(Ordering::SeqCst), 1);
        assert_eq!(service.cached(), 1);
    }

    #[tokio::test]
    async fn embed_then_hands_the_vector_on_and_shares_the_cache() {
        let (fake, service) = service(1, 8);
        let (v, micros) = service
            .embed_query_then(" hello ", |v, micros| (v, micros))
            .await
            .unwrap();
        assert_eq!(v, [5.0, 1.0]);
        assert!(micros >= 50_000, "the inference sleeps 50 ms: {micros}");
        assert_eq!(service.embed_query("hello").await.unwrap(), v);
        let (again, micros) = service
            .embed_query_then("hello", |v, micros| (v, micros))
            .await
            .unwrap();
        assert_eq!((again, micros), (v, 0));
        assert_eq!(fake.calls.load(Ordering::SeqCst), 1);
        assert!(service.embed_query_then(" \n ", |v, _| v).await.is_err());
    }

    #[tokio::test]
    async fn cache_can_be_disabled() {
        let (fake, service) = service(1, 0);
        service.embed_query("hello").await.unwrap();
        service.embed_query("hello").await.unwrap();
        assert_eq!(fake.calls.load(Ordering::SeqCst), 2);
        assert_eq!(service.cached(), 0);
    }

    #[tokio::test]
    async fn blank_input_is_a_structured_client_error() {
        let (fake, service) = service(1, 8);
        let err = service.embed_query(" \n\t ").await.unwrap_err();
        assert!(matches!(err, EmbedError::EmptyInput { index: 0 }), "{err:?}");
        assert!(err.is_client_error());
        let err = service
            .embed_batch(vec!["ok".into(), "".into()])
            .await
            .unwrap_err();
        assert!(matches!(err, EmbedError::EmptyInput { index: 1 }), "{err:?}");
        assert_eq!(fake.calls.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn large_batches_are_split_and_keep_their_order() {
        let (fake, service) = service(2, 8);
        let texts: Vec<String> = (0..(MAX_BATCH * 2 + 3)).map(|i| "x".repeat(i + 1)).collect();
        let vectors = service.embed_batch(texts.clone()).await.unwrap();
        assert_eq!(vectors.len(), texts.len());
        for (i, v) in vectors.iter().enumerate() {
            assert_eq!(v[0], (i + 1) as f32);
        }
        assert_eq!(fake.calls.load(Ordering::SeqCst), 3);
        assert!(vectors.iter().all(|v| v[1] as usize <= MAX_BATCH));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrency_is_bounded_and_workers_stay_free() {
        let (fake, service) = service(2, 0);
        let tasks: Vec<_> = (0..8)
            .map(|i| {
                let service = service.clone();
                tokio::spawn(async move { service.embed_query(&format!("query {i}")).await })
            })
            .collect();
        // The async workers are not blocked by the inferences: a timer fires
        // on time while all of them are queued or running.
        let started = std::time::Instant::now();
        tokio::time::sleep(Duration::from_millis(5)).await;
        // Were the 8 × 50 ms inferences on the 2 workers, it would fire after
        // 200 ms at best.
        assert!(
            started.elapsed() < Duration::from_millis(100),
            "{:?}",
            started.elapsed()
        );
        for task in tasks {
            task.await.unwrap().unwrap();
        }
        assert_eq!(fake.calls.load(Ordering::SeqCst), 8);
        assert!(fake.max_running.load(Ordering::SeqCst) <= 2);
    }
}

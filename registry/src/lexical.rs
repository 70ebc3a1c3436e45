//! Lexical statistics of skill texts, for BM25 scoring beside the dense
//! similarity.
//!
//! Dense embeddings blur rare, decisive words (product names, file
//! formats, domain terms) that a user types verbatim; BM25 rewards exactly
//! those. The router fuses both on the dense candidates (see
//! `docs/routing.md`), so this module only needs per-skill term counts and
//! catalogue-wide document frequencies, kept up to date as versions come
//! and go.

use std::sync::atomic::{AtomicU64, Ordering};

use dashmap::DashMap;

use crate::embedder::humanize_identifier;

/// Words too common to carry meaning in a request.
const STOPWORDS: &[&str] = &[
    "a", "about", "an", "and", "any", "are", "as", "at", "be", "by", "can", "could", "do", "does", "for",
    "from", "get", "give", "have", "help", "how", "i", "if", "in", "into", "is", "it", "its", "me", "my",
    "need", "of", "on", "or", "our", "please", "some", "that", "the", "their", "them", "there", "these",
    "this", "to", "us", "use", "want", "was", "we", "what", "when", "where", "which", "who", "will", "with",
    "would", "you", "your",
];

/// Lowercase terms of `text`: identifiers split into words, punctuation
/// dropped, stopwords and one-letter tokens removed, a plural `s` stripped.
pub fn terms(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for word in text.split_whitespace() {
        for token in humanize_identifier(word).split(|c: char| !c.is_alphanumeric()) {
            let t = token.to_lowercase();
            if t.chars().count() < 2 || STOPWORDS.contains(&t.as_str()) {
                continue;
            }
            out.push(stem(t));
        }
    }
    out
}

fn stem(mut t: String) -> String {
    if t.len() > 3 && t.ends_with('s') && !t.ends_with("ss") && !t.ends_with("us") {
        t.pop();
    }
    t
}

/// Term counts of one document (a skill's text).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TermCounts {
    /// Distinct terms with their counts, sorted by term.
    pub counts: Vec<(String, u32)>,
    pub len: u32,
}

impl TermCounts {
    pub fn of(text: &str) -> Self {
        let mut all = terms(text);
        let len = all.len() as u32;
        all.sort_unstable();
        let mut counts: Vec<(String, u32)> = Vec::new();
        for t in all {
            match counts.last_mut() {
                Some((last, n)) if *last == t => *n += 1,
                _ => counts.push((t, 1)),
            }
        }
        TermCounts { counts, len }
    }

    pub fn count(&self, term: &str) -> u32 {
        self.counts
            .binary_search_by(|(t, _)| t.as_str().cmp(term))
            .map_or(0, |i| self.counts[i].1)
    }
}

/// Catalogue-wide document frequencies (one document per skill version).
#[derive(Debug, Default)]
pub struct LexicalStats {
    df: DashMap<String, u64>,
    docs: AtomicU64,
    total_len: AtomicU64,
}

/// BM25's usual constants.
const K1: f64 = 1.2;
const B: f64 = 0.75;

impl LexicalStats {
    pub fn add(&self, doc: &TermCounts) {
        for (t, _) in &doc.counts {
            *self.df.entry(t.clone()).or_insert(0) += 1;
        }
        self.docs.fetch_add(1, Ordering::AcqRel);
        self.total_len.fetch_add(u64::from(doc.len), Ordering::AcqRel);
    }

    pub fn remove(&self, doc: &TermCounts) {
        for (t, _) in &doc.counts {
            if let Some(mut n) = self.df.get_mut(t) {
                *n = n.saturating_sub(1);
            }
        }
        self.df.retain(|_, n| *n > 0);
        let _ = self
            .docs
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |d| Some(d.saturating_sub(1)));
        let _ = self
            .total_len
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |l| {
                Some(l.saturating_sub(u64::from(doc.len)))
            });
    }

    /// Reads what BM25 needs of the statistics for the query terms `query`
    /// (as [`terms`] returns them) once, to score many documents with
    /// [`LexicalQuery::bm25`].
    pub fn query(&self, query: &[String]) -> LexicalQuery {
        let docs = self.docs.load(Ordering::Acquire).max(1) as f64;
        let avg_len = (self.total_len.load(Ordering::Acquire) as f64 / docs).max(1.0);
        let mut sorted: Vec<&String> = query.iter().collect();
        sorted.sort_unstable();
        let mut terms: Vec<(String, f64)> = Vec::with_capacity(sorted.len());
        for t in sorted {
            let df = self.df.get(t).map_or(0, |n| *n) as f64;
            let idf = (1.0 + (docs - df + 0.5) / (df + 0.5)).ln();
            match terms.last_mut() {
                // A term the query repeats counts once per occurrence.
                Some((last, weight)) if last == t => *weight += idf,
                _ => terms.push((t.clone(), idf)),
            }
        }
        LexicalQuery { terms, avg_len }
    }
}

/// Query terms with their IDFs, read from [`LexicalStats`] once per query:
/// scoring a document then touches neither the shared table nor any of the
/// document's terms twice.
#[derive(Debug, Clone, PartialEq)]
pub struct LexicalQuery {
    /// Distinct terms, sorted, each with its IDF times its count in the query.
    terms: Vec<(String, f64)>,
    avg_len: f64,
}

impl LexicalQuery {
    /// BM25 of `doc`: one merge of the two sorted term lists.
    pub fn bm25(&self, doc: &TermCounts) -> f64 {
        let norm = K1 * (1.0 - B + B * f64::from(doc.len) / self.avg_len);
        let mut counts = doc.counts.iter().peekable();
        let mut score = 0.0;
        for (term, weight) in &self.terms {
            while counts.next_if(|(t, _)| t < term).is_some() {}
            if let Some((_, n)) = counts.next_if(|(t, _)| t == term) {
                let tf = f64::from(*n);
                score += weight * tf * (K1 + 1.0) / (tf + norm);
            }
        }
        score
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terms_split_identifiers_and_drop_noise() {
        assert_eq!(
            terms("Can you run my ChatOCR on these PDFs, please?"),
            vec!["run", "chat", "ocr", "pdf"]
        );
        assert_eq!(terms("create_qr_code"), vec!["create", "qr", "code"]);
    }

    #[test]
    fn rare_matching_terms_score_higher() {
        let stats = LexicalStats::default();
        let docs: Vec<TermCounts> = [
            "search the web for pages",
            "search news articles",
            "search flights and hotels",
            "convert currencies at today's rate",
        ]
        .iter()
        .map(|t| TermCounts::of(t))
        .collect();
        for d in &docs {
            stats.add(d);
        }
        let q = terms("search flights to Lisbon");
        let scores: Vec<f64> = docs.iter().map(|d| stats.query(&q).bm25(d)).collect();
        assert!(scores[2] > scores[0] && scores[2] > scores[1], "{scores:?}");
        assert_eq!(scores[3], 0.0);
        stats.remove(&docs[2]);
        // "flight" is now in no document: only "search" can match.
        let q = stats.query(&q);
        assert!((q.bm25(&docs[0]) - q.bm25(&docs[1])).abs() < 0.2);
    }

    #[test]
    fn a_repeated_query_term_counts_once_per_occurrence() {
        let stats = LexicalStats::default();
        let docs: Vec<TermCounts> = [
            "search flights",
            "book hotels",
            "flights flights and more flights",
        ]
        .iter()
        .map(|t| TermCounts::of(t))
        .collect();
        for d in &docs {
            stats.add(d);
        }
        let once = stats.query(&terms("flights"));
        let twice = stats.query(&terms("flights, flights"));
        for d in &docs {
            assert!((twice.bm25(d) - 2.0 * once.bm25(d)).abs() < 1e-12);
        }
        // Terms on either side of the document's in sorted order are skipped.
        let both = stats.query(&terms("zebra flights aardvark search"));
        let parts =
            stats.query(&terms("flights")).bm25(&docs[0]) + stats.query(&terms("search")).bm25(&docs[0]);
        assert!(once.bm25(&docs[0]) > 0.0);
        assert!((both.bm25(&docs[0]) - parts).abs() < 1e-12);
        assert_eq!(both.bm25(&docs[1]), 0.0);
    }
}

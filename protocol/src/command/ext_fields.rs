//! `extFields`: the string-to-string map that carries every typed ("custom") header.
//!
//! Layout: every key and value text lives back to back in one `String` (the arena), and a
//! vector of index ranges into it, sorted by key, is the map. A header holds a handful of
//! entries, so a binary search over one small vector beats a tree or hash map; iteration order
//! is the sorted order fastjson would print with `MapSortField` — deterministic output for
//! tests and fixtures.
//!
//! Why an arena: requests are decoded on the hot path (one SEND per message). One `String` per
//! key and per value cost two allocations per field, a dozen per SEND; here a decoded map costs
//! at most two (the arena and the index), and the decoders append straight into the arena
//! without intermediate strings.
//!
//! Invariants: every range in `entries` lies inside `text` on `char` boundaries; keys are
//! unique and sorted; `stale_bytes` counts the arena bytes no entry refers to any more
//! (replaced or removed entries), and the arena is compacted once they outweigh the live ones,
//! so repeated inserts of one key cannot grow it without bound.

use std::fmt::{self, Write as _};
use std::hash::{Hash, Hasher};
use std::ops::Range;

/// One entry: where its key and value are in the arena.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    key: Range<usize>,
    value: Range<usize>,
}

/// The extFields of one remoting command. Keys are unique; a later insert of a key replaces the
/// earlier value (as Java's `HashMap.put` does for duplicate JSON keys).
#[derive(Clone, Default)]
pub struct ExtFields {
    /// Key and value texts, back to back.
    text: String,
    /// Ranges into `text`, sorted by key text.
    entries: Vec<Entry>,
    /// Arena bytes no entry refers to.
    stale_bytes: usize,
}

impl ExtFields {
    /// An empty map.
    pub const fn new() -> Self {
        ExtFields {
            text: String::new(),
            entries: Vec::new(),
            stale_bytes: 0,
        }
    }

    /// An empty map with room for `n` entries.
    pub fn with_capacity(n: usize) -> Self {
        ExtFields {
            text: String::new(),
            entries: Vec::with_capacity(n),
            stale_bytes: 0,
        }
    }

    /// An empty map with room for `n` entries whose keys and values total `text_bytes`.
    pub fn with_capacities(n: usize, text_bytes: usize) -> Self {
        ExtFields {
            text: String::with_capacity(text_bytes),
            entries: Vec::with_capacity(n),
            stale_bytes: 0,
        }
    }

    fn position(&self, key: &str) -> Result<usize, usize> {
        // Byte order is `str` order; comparing bytes skips the char-boundary checks of
        // slicing a `str` (every lookup and every decoded field runs this search).
        let text = self.text.as_bytes();
        let key = key.as_bytes();
        self.entries
            .binary_search_by(|e| text[e.key.clone()].cmp(key))
    }

    /// The value of `key`, if present.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.position(key)
            .ok()
            .map(|i| &self.text[self.entries[i].value.clone()])
    }

    /// Whether `key` is present.
    pub fn contains_key(&self, key: &str) -> bool {
        self.position(key).is_ok()
    }

    /// Insert or replace.
    pub fn insert(&mut self, key: impl AsRef<str>, value: impl AsRef<str>) {
        let (key, value) = (key.as_ref(), value.as_ref());
        match self.position(key) {
            Ok(i) => {
                let value = self.push_text(value);
                let old = std::mem::replace(&mut self.entries[i].value, value);
                self.stale_bytes += old.len();
                self.compact_if_mostly_stale();
            }
            Err(i) => {
                let key = self.push_text(key);
                let value = self.push_text(value);
                self.entries.insert(i, Entry { key, value });
            }
        }
    }

    /// Insert or replace, with the value's `Display` text written straight into the arena
    /// (numbers, booleans, addresses: no temporary `String`).
    pub fn insert_display(&mut self, key: &str, value: impl fmt::Display) {
        let mark = self.text.len();
        // Writing into a String cannot fail.
        let _ = write!(self.text, "{value}");
        let value = mark..self.text.len();
        match self.position(key) {
            Ok(i) => {
                let old = std::mem::replace(&mut self.entries[i].value, value);
                self.stale_bytes += old.len();
                self.compact_if_mostly_stale();
            }
            Err(i) => {
                let key = self.push_text(key);
                self.entries.insert(i, Entry { key, value });
            }
        }
    }

    /// Remove `key`, returning its value.
    pub fn remove(&mut self, key: &str) -> Option<String> {
        let i = self.position(key).ok()?;
        let e = self.entries.remove(i);
        let value = self.text[e.value.clone()].to_owned();
        self.stale_bytes += e.key.len() + e.value.len();
        self.compact_if_mostly_stale();
        Some(value)
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Entries in key order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&str, &str)> {
        self.entries
            .iter()
            .map(|e| (&self.text[e.key.clone()], &self.text[e.value.clone()]))
    }

    /// Append `s` to the arena and return where it is.
    pub(crate) fn push_text(&mut self, s: &str) -> Range<usize> {
        let start = self.text.len();
        self.text.push_str(s);
        start..self.text.len()
    }

    /// The arena, for decoders that write a text piecewise (then call [`Self::commit`]).
    pub(crate) fn arena(&mut self) -> &mut String {
        &mut self.text
    }

    /// Drop arena bytes from `len` on: a key already pushed whose value turned out absent.
    /// Only bytes after every committed entry may be dropped.
    pub(crate) fn truncate_arena(&mut self, len: usize) {
        debug_assert!(self
            .entries
            .iter()
            .all(|e| e.value.end <= len && e.key.end <= len));
        self.text.truncate(len);
    }

    /// Make the key and value already pushed to the arena an entry (replacing an entry with
    /// the same key, as [`Self::insert`] does).
    pub(crate) fn commit(&mut self, key: Range<usize>, value: Range<usize>) {
        match self.position(&self.text[key.clone()]) {
            Ok(i) => {
                let old = std::mem::replace(&mut self.entries[i].value, value);
                self.stale_bytes += old.len() + key.len();
                self.compact_if_mostly_stale();
            }
            Err(i) => self.entries.insert(i, Entry { key, value }),
        }
    }

    /// Make many key/value pairs already pushed to the arena entries at once, in the order
    /// given (a later duplicate key replaces an earlier one, as [`Self::commit`] does): one
    /// sort instead of a search and insert per entry. The map must be empty.
    pub(crate) fn commit_all(&mut self, mut pairs: Vec<(Range<usize>, Range<usize>)>) {
        debug_assert!(self.entries.is_empty());
        let text = self.text.as_bytes();
        // Stable: equal keys keep their input order, so the last of a run is the later one.
        pairs.sort_by(|a, b| text[a.0.clone()].cmp(&text[b.0.clone()]));
        let mut stale = 0;
        // `dedup_by` hands (later, kept earlier): move the later value into the kept entry.
        pairs.dedup_by(|later, earlier| {
            let same = text[later.0.clone()] == text[earlier.0.clone()];
            if same {
                stale += earlier.1.len() + later.0.len();
                earlier.1 = later.1.clone();
            }
            same
        });
        self.stale_bytes += stale;
        // Same layout: collected in place, no new allocation.
        self.entries = pairs
            .into_iter()
            .map(|(key, value)| Entry { key, value })
            .collect();
        self.compact_if_mostly_stale();
    }

    /// Rewrite the arena with only the live texts once stale bytes outweigh them.
    fn compact_if_mostly_stale(&mut self) {
        if self.stale_bytes <= self.text.len() / 2 {
            return;
        }
        let mut text = String::with_capacity(self.text.len() - self.stale_bytes);
        for e in &mut self.entries {
            let start = text.len();
            text.push_str(&self.text[e.key.clone()]);
            let key = start..text.len();
            text.push_str(&self.text[e.value.clone()]);
            e.value = key.end..text.len();
            e.key = key;
        }
        self.text = text;
        self.stale_bytes = 0;
    }
}

impl fmt::Debug for ExtFields {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

// Equality and hashing are of the map's contents, not of the arena's layout (two equal maps
// may hold stale bytes or entries in different arena order).
impl PartialEq for ExtFields {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl Eq for ExtFields {}

impl Hash for ExtFields {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_usize(self.len());
        for (k, v) in self.iter() {
            k.hash(state);
            v.hash(state);
        }
    }
}

impl<K: AsRef<str>, V: AsRef<str>> FromIterator<(K, V)> for ExtFields {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let mut fields = ExtFields::new();
        for (k, v) in iter {
            fields.insert(k, v);
        }
        fields
    }
}

impl ExtFields {
    #[cfg(test)]
    fn arena_len(&self) -> usize {
        self.text.len()
    }

    #[cfg(test)]
    fn key_of(&self, e: &Entry) -> &str {
        &self.text[e.key.clone()]
    }

    #[cfg(test)]
    fn check_invariants(&self) {
        for w in self.entries.windows(2) {
            assert!(self.key_of(&w[0]) < self.key_of(&w[1]));
        }
        let live: usize = self
            .entries
            .iter()
            .map(|e| e.key.len() + e.value.len())
            .sum();
        assert!(live <= self.text.len());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::BuildHasher;

    #[test]
    fn insert_keeps_keys_sorted_and_unique() {
        let mut f = ExtFields::new();
        f.insert("b", "1");
        f.insert("a", "2");
        f.insert("b", "3");
        assert_eq!(f.iter().collect::<Vec<_>>(), vec![("a", "2"), ("b", "3")]);
        assert_eq!(f.get("b"), Some("3"));
        assert_eq!(f.remove("a"), Some("2".to_string()));
        assert!(!f.contains_key("a"));
        assert_eq!(f.len(), 1);
        f.check_invariants();
    }

    #[test]
    fn displayed_values_are_their_text() {
        let mut f = ExtFields::new();
        f.insert_display("queueOffset", -42i64);
        f.insert_display("batch", true);
        f.insert("queueId", "x");
        f.insert_display("queueId", 7);
        assert_eq!(
            f,
            [("batch", "true"), ("queueId", "7"), ("queueOffset", "-42")]
                .into_iter()
                .collect()
        );
        f.check_invariants();
    }

    #[test]
    fn equality_ignores_arena_layout() {
        let mut a = ExtFields::new();
        a.insert("x", "old");
        a.insert("y", "2");
        a.insert("x", "1");
        let b: ExtFields = [("y", "2"), ("x", "1")].into_iter().collect();
        assert_eq!(a, b);
        let state = std::collections::hash_map::RandomState::new();
        assert_eq!(state.hash_one(&a), state.hash_one(&b));
        assert_ne!(a, [("x", "1")].into_iter().collect::<ExtFields>());
        assert_eq!(format!("{a:?}"), r#"{"x": "1", "y": "2"}"#);
    }

    #[test]
    fn repeated_replacement_does_not_grow_the_arena_without_bound() {
        let mut f = ExtFields::new();
        f.insert("other", "kept");
        for i in 0..10_000 {
            f.insert("k", format!("value-{i}"));
        }
        assert!(f.arena_len() < 100, "arena holds {} bytes", f.arena_len());
        assert_eq!(f.get("k"), Some("value-9999"));
        assert_eq!(f.get("other"), Some("kept"));
        for i in 0..1_000 {
            f.insert(format!("t{i}"), "v");
            f.remove(&format!("t{i}"));
        }
        assert!(f.arena_len() < 100, "arena holds {} bytes", f.arena_len());
        f.check_invariants();
    }

    #[test]
    fn committed_entries_behave_as_inserted_ones() {
        let mut f = ExtFields::new();
        let k = f.push_text("b");
        let v = f.push_text("1");
        f.commit(k, v);
        let k = f.push_text("a");
        let v = f.push_text("2");
        f.commit(k, v);
        // A key whose value turns out absent is rolled back.
        let mark = f.arena().len();
        f.push_text("gone");
        f.truncate_arena(mark);
        let k = f.push_text("b");
        let v = f.push_text("3");
        f.commit(k, v);
        assert_eq!(f, [("a", "2"), ("b", "3")].into_iter().collect());
        f.check_invariants();
    }
}

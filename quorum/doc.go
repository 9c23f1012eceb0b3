// Package quorum decides R-of-N quorum reads: it extracts a version from each replica
// answer, decides when enough answers agree (or, under conflict latest, which one is
// newest), and keeps a per-key monotonic-read floor. It is pure logic: it sends no
// requests, starts no goroutines, and knows no HTTP framework or metrics library. The
// attempt engine (hedge/) feeds it answers as they arrive and serves what it picks.
//
// A route builds an Extractor and a Policy once (and a Floor when monotonic reads are
// on); each request takes Floor.Policy for its Key, calls Decide after each answer,
// stops at the first Decision with Decided set, calls DecideAtDeadline if the deadline
// comes first, and calls Floor.Observe with the version it serves before answering
// the client, so that the client's next read already sees the raised floor.
//
// # Versions
//
// A Version is text. It is numeric when it is a decimal integer of any size; numeric
// versions are compared as numbers ("042" equals "42", "10" is above "9", 2^70 works).
// Anything else (ETags, body hashes, "1.5", "v3") is opaque: it can only be equal or
// different.
//
// # What the monotonic floor guarantees
//
// For one key of one route, while the key stays in the Floor's LRU (max_keys most
// recently read keys), and for requests that take their Policy after an earlier
// request's Observe returned:
//
//   - Numeric versions: a version numerically below the highest numeric version
//     served is never served again. The floor only rises; a slow request that observes
//     an older version late cannot lower it.
//   - Opaque versions: "never flip back". When version B was served after version A,
//     A is refused for as long as it is among the last 4 versions B replaced. Any
//     other version is assumed newer and accepted, because opaque versions carry no
//     order: a quorum that agrees on a version never served before is served even if
//     it is in fact older than A. The current version itself is always accepted.
//   - Mixed (one numeric, one opaque): the opaque rule applies.
//
// Not guaranteed: order between requests in flight at the same time (two concurrent
// requests may serve different versions, and the last Observe sets an opaque floor);
// anything after a key is evicted or the gateway restarts (the floor is in memory,
// per gateway process); ordering across gateway instances.
//
// # The client's floor
//
// A request may carry a minimum version of its own (X-Min-Version: read-your-writes
// across gateway instances, with no state here). AtLeast says whether a version meets
// it: numerically when both are decimal integers, otherwise only when equal, since
// opaque versions carry no order. The engine marks answers that do not meet it
// BelowMin; Decide never counts or serves them, and ends with ResultFloorUnmet when
// one came and no acceptable agreement is possible.
//
// Hazard: with body-hash versions, a value that legitimately returns to earlier
// content (a toggled flag) has the hash of a replaced version and is refused as stale
// until four other versions have been served or the key is evicted. Use monotonic
// reads with a version that never repeats (a revision header, an etcd mod_revision).
package quorum

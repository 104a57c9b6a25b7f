#pragma once

// Time-ordered identifiers for new orders and saga executions: UUID version 7
// (RFC 9562): 48 bits of Unix time in milliseconds, then a 12-bit sequence that
// keeps ids made in the same millisecond increasing within a process, then 62
// random bits. They are ordinary UUIDs to every reader; what they buy is index
// locality. Every key index over them (orders.id, order_events (order_id, seq),
// saga_executions, saga_step_results) grows at its right edge, so a batch of new
// rows dirties a few B-tree pages instead of one page per row — with random (v4)
// keys the pages a batch touches grow with the table, and so did the cost of a
// commit.

#include <QUuid>

// A new version-7 UUID; increasing across calls in one process (thread-safe).
QUuid timeOrderedUuid();
// Same, with an explicit clock reading (Unix ms) — for tests.
QUuid timeOrderedUuid(qint64 unixMs);

#pragma once

// Read jobs shared by the sources that hold a SagaStore (embedded, database).
// They run inside a StoreReader's thread; never call them on the GUI thread.

#include "progresssource.h"

class SagaStore;

namespace StoreJobs {

struct InitialLoad {
    QVector<OrderProgress> snapshots; // what was not handed to `chunk` (all of it without one)
    int count = 0;
    qint64 lastPosition = 0; // read before the list: events after it may be newer
    QString error;           // empty on success
    bool unavailable = false;
    // Durations (ms) of the most recently finished steps, newest first, to seed the
    // ETA estimator (SagaStore::recentStepDurations; empty when unreadable).
    QVector<QPair<SagaStep, qint64>> stepDurations;
};
// Every order as a snapshot, newest first (SnapshotReader: keyset pages of orders
// joined with their events, folded while read), plus the position to catch up
// from. Reading the position first means nothing can fall between the snapshots
// and the events read afterwards (duplicates are harmless). `connectionName` is
// the store's connection (the reader uses it in this same thread).
// With `chunk`, snapshots are handed over as they are read (first a small chunk
// for an early first paint, then larger ones), in the reader's thread.
InitialLoad loadAll(SagaStore &store, const QString &connectionName,
                    const std::function<void(QVector<OrderProgress>)> &chunk = {});

struct EventsAfter {
    QVector<OrderEvent> events;
    qint64 lastPosition = 0; // highest position read (or the one passed in)
    bool more = false;       // a full page came back: read again
    QString error;
    bool unavailable = false;
};
EventsAfter eventsAfter(SagaStore &store, qint64 afterPosition, int limit);

struct CaseResult {
    OrderCase orderCase;
    QString error;
};
CaseResult loadCase(SagaStore &store, const QUuid &orderId);

} // namespace StoreJobs

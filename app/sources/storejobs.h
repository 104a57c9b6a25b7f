#pragma once

// Read jobs shared by the sources that hold a SagaStore (embedded, database).
// They run inside a StoreReader's thread; never call them on the GUI thread.

#include "progresssource.h"
#include "storereader.h"

#include <QPointer>

class SagaStore;

namespace StoreJobs {

struct InitialLoad {
    QVector<OrderProgress> snapshots; // what was not handed to `chunk` (all of it without one)
    int count = 0;
    qint64 lastPosition = 0; // read before the list: events after it may be newer
    StoreError error;        // none on success
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

// The StoreReader job of a source's initial load: loadAll() whose chunks go out
// through `reader`'s poster() (safe after the reader is gone) and reach `source`
// as snapshotsReady while the source still runs.
template<typename Source>
auto loadAllInto(StoreReader *reader, QPointer<Source> source)
{
    return [post = reader->poster(), source, connection = reader->connectionName()](SagaStore &store) {
        return loadAll(store, connection, [post, source](QVector<OrderProgress> chunk) {
            post([source, chunk = std::move(chunk)] {
                if (source && source->isRunningForChunks())
                    Q_EMIT source->snapshotsReady(chunk);
            });
        });
    };
}

struct EventsAfter {
    QVector<OrderEvent> events;
    qint64 lastPosition = 0; // highest position read (or the one passed in)
    bool more = false;       // a full page came back: read again
    StoreError error;
};
EventsAfter eventsAfter(SagaStore &store, qint64 afterPosition, int limit);

// Which event a position holds. Positions only grow in one database, but a backup
// restored into it (or another database put in its place) may have grown past the
// positions shown with other events: the event at a position seen before tells.
struct EventMark {
    qint64 position = 0; // 0: no mark (nothing seen yet)
    QUuid orderId;
    qint64 seq = 0;
    static EventMark of(const OrderEvent &e) { return {e.position, e.orderId, e.seq}; }
};
// The mark of the event at `position` (no mark when none holds it, or position <= 0).
StoreResult<EventMark> markAt(SagaStore &store, qint64 position);
// Whether the database holds `mark`'s event at its position still (true for no mark).
StoreResult<bool> stillThere(SagaStore &store, const EventMark &mark);

struct CaseResult {
    OrderCase orderCase;
    QString error;
};
CaseResult loadCase(SagaStore &store, const QUuid &orderId);

} // namespace StoreJobs

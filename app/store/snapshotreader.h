#pragma once

// Bulk reader of order snapshots for a console's first load: every order's
// OrderProgress, folded from its events with the one fold (OrderProgress::apply),
// in two set-based queries instead of one query per page of orders:
//  1. the newest `firstChunk` orders joined with their events (keyset on
//     created_at DESC, id DESC), folded and handed over at once (first paint);
//  2. one forward-only scan of order_events in storage order (no sort, no index
//     lookups) folded per order in memory; the fold orders each order's events by
//     seq itself. Then newest first, in chunks. event_type and step_name come as
//     small integers (CASE in SQL); on a SQLite file the scan is split by order id
//     in two halves folded in parallel, one on a second connection (a clone of
//     this one) in a helper thread.
// The snapshots are exactly what SagaStore::loadProgress() folds for the same
// orders (tests/integration/store/tst_snapshotreader.cpp).
//
// Like SagaStore it uses a named QSqlDatabase connection (normally the one a
// SagaStore opened: pass the same connection name) and must be used only in the
// thread that opened that connection.

#include "orderprogress.h"
#include "storeerror.h"

#include <QString>
#include <QUuid>
#include <QVector>
#include <functional>

class QSqlQuery;

class SnapshotReader
{
public:
    explicit SnapshotReader(const QString &connectionName);

    struct Options {
        int firstChunk = 2000; // orders in the first chunk (early first paint)
        int chunk = 25000;     // orders in every later chunk
    };
    // Reads every order (the first chunk newest first, the rest after the scan,
    // newest first), handing each chunk to `chunk` in this thread. Returns the
    // number of orders read in `count`.
    StoreError readAll(const std::function<void(QVector<OrderProgress>)> &chunk, const Options &options,
                       int *count = nullptr);
    StoreError readAll(const std::function<void(QVector<OrderProgress>)> &chunk, int *count = nullptr)
    {
        return readAll(chunk, Options(), count);
    }

    // Snapshots of the given orders (unknown ones are left out), in the order given.
    StoreResult<QVector<OrderProgress>> read(const QVector<QUuid> &orderIds);

private:
    StoreError failure(const QSqlQuery &q, const QString &what) const;

    QString m_connectionName;
};
